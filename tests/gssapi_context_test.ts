/**
 * GssInitiator against the real KDC and slapd of the local stack: context
 * establishment with the consumer's k5start ticket cache (slapd is the
 * acceptor, reached through a SASL bind), with and without mutual
 * authentication, and wrap/unwrap with slapd's context.
 *
 * Needs: --allow-ffi, --allow-env (KRB5_CONFIG, KRB5CCNAME), --allow-run
 * (kinit, klist; the stack's daemons), --allow-net=127.0.0.1, read/write in
 * the temporary directories.
 */

import assert from "node:assert/strict";
import { GssInitiator, type SaslSession } from "../lib/gssapi/mod.ts";
import { LdapTestConnection } from "./helpers/ldap_bind.ts";
import { establish, expectGssError, REPEATS } from "./helpers/gssapi.ts";
import { getKerberosStack as setup } from "./helpers/stack.ts";

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
