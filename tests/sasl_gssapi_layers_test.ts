/**
 * RFC 4752 SASL GSSAPI binds to the real slapd of the local stack, one per
 * security layer, each proven by a "Who am I?" extended operation sent
 * through the layer; the layer chosen from the server's offer, a slapd that
 * demands encryption, a PDU split into many wrapped frames.
 *
 * Needs: --allow-ffi, --allow-env (KRB5_CONFIG, KRB5CCNAME), --allow-run (the
 * stack's daemons; this Deno binary for the crash check),
 * --allow-net=127.0.0.1, read/write in the temporary directories.
 */

import assert from "node:assert/strict";
import {
  SaslError,
  saslGssapiBind,
  type SaslSecurityLayer,
} from "../lib/gssapi/mod.ts";
import { LdapTestConnection } from "./helpers/ldap_bind.ts";
import { getKerberosStack as setup, startStack } from "./helpers/stack.ts";

const WHOAMI_OID = new TextEncoder().encode("1.3.6.1.4.1.4203.1.11.3");

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.byteLength <= haystack.byteLength; i++) {
    for (let j = 0; j < needle.byteLength; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return true;
  }
  return false;
}

for (const layer of ["none", "integrity", "confidentiality"] as const) {
  Deno.test(`SASL GSSAPI bind to slapd with the ${layer} layer carries a Who am I? through it`, async () => {
    const stack = await setup();
    const conn = await LdapTestConnection.connect(stack.ldap.port);
    const session = await saslGssapiBind(conn.saslBindStep, {
      ccache: stack.ccaches.ldapClient,
      service: "ldap",
      host: stack.ldap.saslHost,
      layers: [layer],
    });
    try {
      assert.equal(session.layer, layer);
      assert.equal(session.principal, stack.principals.ldapClient);
      conn.useSession(session);
      const sentBefore = conn.wire.sent.length;
      assert.equal(
        (await conn.whoami()).toLowerCase(),
        `dn:${stack.ldap.consumerDn}`.toLowerCase(),
      );
      const sent = conn.wire.sent.slice(sentBefore);
      assert.equal(sent.length, 1);
      const frame = sent[0];
      if (layer === "none") {
        assert.equal(session.maxSendSize, Infinity);
        assert.equal(frame[0], 0x30, "a bare LDAPMessage");
        assert.ok(contains(frame, WHOAMI_OID));
        return;
      }
      assert.equal(
        new DataView(frame.buffer).getUint32(0),
        frame.byteLength - 4,
        "4-byte length prefix",
      );
      assert.ok(
        session.maxSendSize > 60_000 && session.maxSendSize < 65_536,
        `${session.maxSendSize}`,
      );
      // Integrity signs the PDU in clear; confidentiality encrypts it.
      assert.equal(contains(frame, WHOAMI_OID), layer === "integrity");
      // slapd refuses cleartext once a layer is on: it drops the connection.
      await conn.sendCleartextWhoami();
      assert.equal(await conn.closedByServer(), true);
    } finally {
      session.close();
      session.close();
      conn.close();
    }
  });
}

Deno.test("SASL GSSAPI bind picks the first acceptable layer the server offers", async () => {
  const stack = await setup();
  const cases: [SaslSecurityLayer[] | undefined, SaslSecurityLayer][] = [
    [undefined, "confidentiality"],
    [["integrity", "confidentiality"], "integrity"],
    [["none", "confidentiality"], "none"],
  ];
  for (const [layers, expected] of cases) {
    const conn = await LdapTestConnection.connect(stack.ldap.port);
    try {
      const session = await saslGssapiBind(conn.saslBindStep, {
        ccache: stack.ccaches.ldapClient,
        service: "ldap",
        host: "localhost",
        layers,
      });
      assert.equal(session.layer, expected, `layers ${layers}`);
      conn.useSession(session);
      assert.match(await conn.whoami(), /^dn:/);
      session.close();
    } finally {
      conn.close();
    }
  }
});

Deno.test("SASL GSSAPI bind to a slapd that demands encryption refuses weaker layers clearly", async () => {
  const handle = await startStack();
  try {
    const stack = handle.info;
    Deno.env.set("KRB5_CONFIG", stack.krb5Config);
    await handle.stopSlapd();
    const ldif =
      "dn: cn=config\nchangetype: modify\nreplace: olcSaslSecProps\n" +
      "olcSaslSecProps: noplain,noanonymous,minssf=56\n";
    const child = new Deno.Command("slapmodify", {
      args: ["-n0", "-F", stack.ldap.slapdConfigDir],
      env: stack.ldap.env,
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(ldif));
    await writer.close();
    const { code, stderr } = await child.output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    await handle.startSlapd();
    const base = {
      ccache: stack.ccaches.ldapClient,
      service: "ldap",
      host: "localhost",
    };
    const conn = await LdapTestConnection.connect(stack.ldap.port);
    try {
      await assert.rejects(
        saslGssapiBind(conn.saslBindStep, {
          ...base,
          layers: ["integrity", "none"],
        }),
        (error: unknown) =>
          error instanceof SaslError &&
          error.message.includes(
            "offers no acceptable security layer: offered confidentiality, acceptable integrity, none",
          ),
      );
    } finally {
      conn.close();
    }
    const strong = await LdapTestConnection.connect(stack.ldap.port);
    try {
      const session = await saslGssapiBind(strong.saslBindStep, base);
      assert.equal(session.layer, "confidentiality");
      strong.useSession(session);
      assert.equal(
        (await strong.whoami()).toLowerCase(),
        `dn:${stack.ldap.consumerDn}`.toLowerCase(),
      );
      session.close();
    } finally {
      strong.close();
    }
  } finally {
    await handle.down();
  }
});

Deno.test("SASL GSSAPI layer splits a PDU into many wrapped frames that slapd reassembles", async () => {
  const stack = await setup();
  const conn = await LdapTestConnection.connect(stack.ldap.port);
  const bound = await saslGssapiBind(conn.saslBindStep, {
    ccache: stack.ccaches.ldapClient,
    service: "ldap",
    host: "localhost",
    maxReceiveSize: 4096,
  });
  try {
    assert.equal(bound.maxReceiveSize, 4096);
    assert.throws(
      () => bound.wrap(new Uint8Array(bound.maxSendSize + 1)),
      RangeError,
    );
    // The largest chunk fits the server's 64 KiB limit once wrapped.
    assert.ok(
      bound.wrap(new Uint8Array(bound.maxSendSize)).byteLength <= 65_536,
    );
    // Send each PDU as 5-byte chunks (as if maxSendSize were 5).
    conn.useSession({ ...bound, maxSendSize: 5 });
    const sentBefore = conn.wire.sent.length;
    assert.equal(
      (await conn.whoami()).toLowerCase(),
      `dn:${stack.ldap.consumerDn}`.toLowerCase(),
    );
    assert.ok(
      conn.wire.sent.length - sentBefore > 5,
      "the PDU went out in several frames",
    );
  } finally {
    bound.close();
    conn.close();
  }
});
