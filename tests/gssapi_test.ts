/**
 * GssInitiator against the real KDC and slapd of the local stack: context
 * establishment with the consumer's k5start ticket cache (slapd is the
 * acceptor, reached through a SASL bind), wrap/unwrap with slapd's context,
 * and readable errors (never a crash) for bad ticket caches and targets.
 *
 * Needs: --allow-ffi, --allow-env (KRB5_CONFIG, KRB5CCNAME), --allow-run
 * (kinit, klist; the stack's daemons), --allow-net=127.0.0.1, read/write in
 * the temporary directories.
 */

import assert from "node:assert/strict";
import { GssError, GssInitiator, type SaslSession } from "../lib/gssapi/mod.ts";
import { gssapi } from "../lib/gssapi/ffi.ts";
import { LdapTestConnection } from "./helpers/ldap_bind.ts";
import { getStack, type StackInfo } from "./helpers/stack.ts";

/** How often each failure is repeated: MIT krb5 1.20 crashed within 15 tries on bad caches. */
const REPEATS = 30;

async function setup(): Promise<StackInfo> {
  const stack = await getStack();
  Deno.env.set("KRB5_CONFIG", stack.krb5Config);
  return stack;
}

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

/** Establishes `gss` with slapd through SASL bind steps; returns the (unwrapped) layer offer. */
async function establish(
  gss: GssInitiator,
  conn: LdapTestConnection,
): Promise<Uint8Array> {
  let reply = await conn.saslBindStep(gss.step());
  while (!gss.established) {
    assert.equal(
      reply.resultCode,
      14,
      `bind step answered ${reply.resultCode}: ${reply.diagnosticMessage}`,
    );
    reply = await conn.saslBindStep(gss.step(reply.serverCredentials));
  }
  assert.equal(reply.resultCode, 14);
  assert.ok(reply.serverCredentials, "slapd sent no security layer offer");
  const offer = gss.unwrap(reply.serverCredentials);
  return offer.data;
}

function assertGssError(error: unknown, ...fragments: string[]): GssError {
  assert.ok(error instanceof GssError, `expected a GssError, got ${error}`);
  for (const fragment of fragments) {
    assert.ok(
      error.message.includes(fragment),
      `message lacks "${fragment}": ${error.message}`,
    );
  }
  return error;
}

function expectGssError(make: () => unknown, ...fragments: string[]): GssError {
  try {
    make();
  } catch (error) {
    return assertGssError(error, ...fragments);
  }
  assert.fail("no error was thrown");
}

Deno.test("GssInitiator establishes a mutual context with slapd from the consumer's ticket cache", async () => {
  const stack = await setup();
  const gss = new GssInitiator("ldap@localhost", {
    ccache: stack.ccaches.ldapClient,
  });
  const conn = await LdapTestConnection.connect(stack.ldap.port);
  try {
    assert.equal(gss.clientPrincipal, stack.principals.ldapClient);
    assert.equal(gss.ccache, `FILE:${stack.ccaches.ldapClient}`);
    assert.equal(gss.established, false);
    const first = gss.step();
    assert.ok(first && first.byteLength > 100, "no AP-REQ token");
    assert.equal(first[0], 0x60, "not a GSS initial context token");
    assert.equal(
      gss.established,
      false,
      "mutual authentication needs the acceptor's reply",
    );
    const reply = await conn.saslBindStep(first);
    assert.equal(reply.resultCode, 14);
    assert.equal(
      gss.step(reply.serverCredentials),
      undefined,
      "the last step has no token",
    );
    assert.equal(gss.established, true);
    assert.ok(gss.confidentialityAvailable);
    assert.ok(gss.integrityAvailable);
    assert.throws(() => gss.step(new Uint8Array(1)), /already established/);
  } finally {
    conn.close();
    gss.close();
  }
});

Deno.test("GssInitiator without mutual authentication is established after one token", async () => {
  const stack = await setup();
  const gss = new GssInitiator("ldap@localhost", {
    ccache: stack.ccaches.ldapClient,
    mutual: false,
  });
  const conn = await LdapTestConnection.connect(stack.ldap.port);
  try {
    const token = gss.step();
    assert.ok(token && token.byteLength > 100);
    assert.equal(gss.established, true);
    // slapd has no AP-REP to send, so its first answer is already the layer offer.
    const reply = await conn.saslBindStep(token);
    assert.equal(reply.resultCode, 14);
    assert.ok(reply.serverCredentials);
    assert.equal(gss.unwrap(reply.serverCredentials).data.byteLength, 4);
  } finally {
    conn.close();
    gss.close();
  }
});

for (const confidential of [false, true]) {
  Deno.test(`GssInitiator wraps and unwraps LDAP messages with slapd (confidential: ${confidential})`, async () => {
    const stack = await setup();
    const gss = new GssInitiator("ldap@localhost", {
      ccache: stack.ccaches.ldapClient,
    });
    const conn = await LdapTestConnection.connect(stack.ldap.port);
    try {
      const offer = await establish(gss, conn);
      const bit = confidential ? 4 : 2;
      assert.ok(
        offer[0] & bit,
        `slapd does not offer layer bit ${bit}: ${offer[0]}`,
      );
      const serverMax = (offer[1] << 16) | (offer[2] << 8) | offer[3];
      assert.ok(serverMax > 1000, `server max size ${serverMax}`);
      const choice = gss.wrap(new Uint8Array([bit, 0x01, 0x00, 0x00]), {
        confidential: false,
      });
      assert.equal((await conn.saslBindStep(choice)).resultCode, 0);
      const received: boolean[] = [];
      const session: SaslSession = {
        layer: confidential ? "confidentiality" : "integrity",
        principal: gss.clientPrincipal,
        maxSendSize: gss.wrapSizeLimit(serverMax, { confidential }),
        maxReceiveSize: 0x10000,
        wrap: (data) => gss.wrap(data, { confidential }),
        unwrap: (token) => {
          const result = gss.unwrap(token);
          received.push(result.confidential);
          return result.data;
        },
        close: () => gss.close(),
      };
      assert.ok(
        session.maxSendSize < serverMax &&
          session.maxSendSize > serverMax - 100,
      );
      conn.useSession(session);
      assert.equal(
        (await conn.whoami()).toLowerCase(),
        `dn:${stack.ldap.consumerDn}`.toLowerCase(),
      );
      assert.equal(
        (await conn.whoami()).toLowerCase(),
        `dn:${stack.ldap.consumerDn}`.toLowerCase(),
      );
      assert.ok(received.length >= 2);
      // slapd protects its replies like the negotiated layer.
      assert.deepEqual(new Set(received), new Set([confidential]));
    } finally {
      conn.close();
      gss.close();
    }
  });
}

Deno.test("GssInitiator.unwrap refuses a tampered, replayed or own token", async () => {
  const stack = await setup();
  const gss = new GssInitiator("ldap@localhost", {
    ccache: stack.ccaches.ldapClient,
  });
  const conn = await LdapTestConnection.connect(stack.ldap.port);
  try {
    let reply = await conn.saslBindStep(gss.step());
    reply = await conn.saslBindStep(gss.step(reply.serverCredentials));
    assert.ok(gss.established && reply.serverCredentials);
    const token = reply.serverCredentials;
    const tampered = token.slice();
    tampered[tampered.byteLength - 1] ^= 0xff;
    for (let i = 0; i < REPEATS; i++) {
      const error = expectGssError(
        () => gss.unwrap(tampered),
        "Cannot unwrap",
        "GSS major:",
        '"ldap@localhost"',
      );
      assert.notEqual(error.major, 0);
    }
    // The genuine token still unwraps after the failures, but only once;
    // unwrap leaves the caller's bytes alone (MIT rewrites its input).
    const copy = token.slice();
    assert.equal(gss.unwrap(token).data.byteLength, 4);
    assert.deepEqual(token, copy);
    const replay = expectGssError(
      () => gss.unwrap(token),
      "out of sequence",
      "GSS major: The token was a duplicate of an earlier token",
    );
    assert.equal(replay.major & 0xffff0000, 0, "a supplementary status only");
    const own = gss.wrap(new TextEncoder().encode("hello"));
    expectGssError(() => gss.unwrap(own), "Cannot unwrap", "GSS major:");
  } finally {
    conn.close();
    gss.close();
  }
});

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

Deno.test("GssInitiator names an unknown service principal", async () => {
  const stack = await setup();
  for (let i = 0; i < REPEATS; i++) {
    const gss = new GssInitiator("nosuch@localhost", {
      ccache: stack.ccaches.ldapClient,
    });
    try {
      const error = expectGssError(
        () => gss.step(),
        '"nosuch@localhost"',
        `client "${stack.principals.ldapClient}"`,
        `ccache "FILE:${stack.ccaches.ldapClient}"`,
        "GSS major: Unspecified GSS failure",
        `Server nosuch/localhost@${stack.realm} not found in Kerberos database`,
      );
      assert.notEqual(error.minor, 0);
      expectGssError(() => gss.step(), "failed earlier");
    } finally {
      gss.close();
    }
  }
});

Deno.test("GssInitiator validates the target and is unusable after close", async () => {
  const stack = await setup();
  expectGssError(
    () =>
      new GssInitiator("ldap/localhost", { ccache: stack.ccaches.ldapClient }),
    "service@host",
  );
  expectGssError(
    () => new GssInitiator("ldap@", { ccache: stack.ccaches.ldapClient }),
    "service@host",
  );
  const gss = new GssInitiator("ldap@localhost", {
    ccache: stack.ccaches.ldapClient,
  });
  expectGssError(() => gss.wrap(new Uint8Array(1)), "not established yet");
  gss.close();
  gss.close();
  expectGssError(() => gss.step(), "is closed");
});

Deno.test("a missing GSSAPI library is reported with the Debian package to install", () => {
  assert.throws(
    () => gssapi("libgssapi_krb5_missing.so.9"),
    (error: Error) =>
      error.message.includes('"libgssapi_krb5_missing.so.9"') &&
      error.message.includes("libgssapi-krb5-2"),
  );
});
