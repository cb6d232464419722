/**
 * GssInitiator's readable errors (never a crash) for bad ticket caches: a
 * missing, empty, corrupt, expired or foreign cache, none named, and the
 * named cache winning over KRB5CCNAME; against the local stack's real KDC.
 *
 * Needs: --allow-ffi, --allow-env (KRB5_CONFIG, KRB5CCNAME), --allow-run
 * (kinit, klist; the stack's daemons), --allow-net=127.0.0.1, read/write in
 * the temporary directories.
 */

import assert from "node:assert/strict";
import { GssInitiator } from "../lib/gssapi/mod.ts";
import { LdapTestConnection } from "./helpers/ldap_bind.ts";
import { establish, expectGssError, REPEATS } from "./helpers/gssapi.ts";
import { getKerberosStack as setup } from "./helpers/stack.ts";

async function run(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<void> {
  const { code, stderr } = await new Deno.Command(command, {
    args,
    env,
    stdout: "null",
    stderr: "piped",
  })
    .output();
  if (code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} failed (${code}): ${
        new TextDecoder().decode(stderr)
      }`,
    );
  }
}

Deno.test("GssInitiator names a missing ticket cache file", async () => {
  await setup();
  const dir = await Deno.makeTempDir({ prefix: "gssapi-test-" });
  try {
    const ccache = `FILE:${dir}/missing.ccache`;
    for (let i = 0; i < REPEATS; i++) {
      expectGssError(
        () => new GssInitiator("ldap@localhost", { ccache }),
        '"ldap@localhost"',
        `ccache is "${ccache}"`,
        "GSS major: No credentials were supplied",
        "No credentials cache found",
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("GssInitiator refuses an empty or corrupt ticket cache without crashing", async () => {
  await setup();
  const dir = await Deno.makeTempDir({ prefix: "gssapi-test-" });
  const saved = Deno.env.get("KRB5CCNAME");
  try {
    await Deno.writeFile(`${dir}/empty.ccache`, new Uint8Array(0), {
      mode: 0o600,
    });
    await Deno.writeFile(
      `${dir}/corrupt.ccache`,
      crypto.getRandomValues(new Uint8Array(300)),
      {
        mode: 0o600,
      },
    );
    // The crash seen with MIT krb5 1.20 came from KRB5CCNAME naming such a cache.
    Deno.env.set("KRB5CCNAME", `FILE:${dir}/empty.ccache`);
    for (let i = 0; i < REPEATS; i++) {
      expectGssError(
        () => new GssInitiator("ldap@localhost"),
        `ccache is "FILE:${dir}/empty.ccache"`,
        "Bad format in credentials cache",
      );
      expectGssError(
        () =>
          new GssInitiator("ldap@localhost", {
            ccache: `${dir}/corrupt.ccache`,
          }),
        `ccache is "FILE:${dir}/corrupt.ccache"`,
        "GSS major:",
        "minor:",
      );
    }
  } finally {
    if (saved === undefined) Deno.env.delete("KRB5CCNAME");
    else Deno.env.set("KRB5CCNAME", saved);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("GssInitiator uses the named cache even when KRB5CCNAME names an empty one", async () => {
  const stack = await setup();
  const dir = await Deno.makeTempDir({ prefix: "gssapi-test-" });
  const saved = Deno.env.get("KRB5CCNAME");
  try {
    await Deno.writeFile(`${dir}/empty.ccache`, new Uint8Array(0), {
      mode: 0o600,
    });
    Deno.env.set("KRB5CCNAME", `FILE:${dir}/empty.ccache`);
    for (let i = 0; i < REPEATS; i++) {
      const gss = new GssInitiator("ldap@localhost", {
        ccache: stack.ccaches.ldapClient,
      });
      const conn = await LdapTestConnection.connect(stack.ldap.port);
      try {
        const offer = await establish(gss, conn);
        assert.equal(offer.byteLength, 4);
      } finally {
        conn.close();
        gss.close();
      }
    }
  } finally {
    if (saved === undefined) Deno.env.delete("KRB5CCNAME");
    else Deno.env.set("KRB5CCNAME", saved);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("GssInitiator asks for a ticket cache when none is named", async () => {
  await setup();
  const saved = Deno.env.get("KRB5CCNAME");
  try {
    Deno.env.delete("KRB5CCNAME");
    expectGssError(
      () => new GssInitiator("ldap@localhost"),
      "no ticket cache is named",
      "KRB5CCNAME",
    );
  } finally {
    if (saved !== undefined) Deno.env.set("KRB5CCNAME", saved);
  }
});

Deno.test("GssInitiator refuses an expired ticket cache", async () => {
  const stack = await setup();
  const dir = await Deno.makeTempDir({ prefix: "gssapi-test-" });
  try {
    const ccache = `FILE:${dir}/expired.ccache`;
    const env = { KRB5_CONFIG: stack.krb5Config };
    await run("kinit", [
      "-l",
      "1s",
      "-k",
      "-t",
      stack.keytabs.ldapClient,
      "-c",
      ccache,
      stack.principals.ldapClient,
    ], env);
    // Valid first: the cache is fine until its ticket runs out.
    new GssInitiator("ldap@localhost", { ccache }).close();
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { code } = await new Deno.Command("klist", {
        args: ["-s", "-c", ccache],
        env,
      }).output();
      if (code !== 0) break;
      assert.ok(Date.now() < deadline, "the 1 s ticket did not expire");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    for (let i = 0; i < REPEATS; i++) {
      const error = expectGssError(
        () => new GssInitiator("ldap@localhost", { ccache }),
        '"ldap@localhost"',
        "holds only expired credentials",
        `ccache is "${ccache}"`,
        "GSS major: The referenced credential has expired",
      );
      assert.equal(error.major, 11 << 16);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("GssInitiator refuses a ticket cache of another principal", async () => {
  const stack = await setup();
  const right = new GssInitiator("ldap@localhost", {
    ccache: stack.ccaches.ldapClient,
    principal: stack.principals.ldapClient,
  });
  assert.equal(right.clientPrincipal, stack.principals.ldapClient);
  right.close();
  for (let i = 0; i < REPEATS; i++) {
    expectGssError(
      () =>
        new GssInitiator("ldap@localhost", {
          ccache: stack.ccaches.remctlClient,
          principal: stack.principals.ldapClient,
        }),
      `no valid credentials for "${stack.principals.ldapClient}"`,
      `ccache is "FILE:${stack.ccaches.remctlClient}"`,
      "Principal in credential cache does not match desired name",
    );
  }
});
