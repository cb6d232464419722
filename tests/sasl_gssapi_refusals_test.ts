/**
 * The refusals and protocol checks of RFC 4752 SASL GSSAPI binds to the real
 * slapd of the local stack: a server refusal, a ticket for another service,
 * bad caches, services and options (nothing sent), a server out of protocol.
 *
 * Needs: --allow-ffi, --allow-env (KRB5_CONFIG, KRB5CCNAME), --allow-run (the
 * stack's daemons; this Deno binary for the crash check),
 * --allow-net=127.0.0.1, read/write in the temporary directories.
 */

import assert from "node:assert/strict";
import {
  GssError,
  SaslError,
  type SaslExchangeResult,
  saslGssapiBind,
  type SaslSecurityLayer,
} from "../lib/gssapi/mod.ts";
import { LdapTestConnection } from "./helpers/ldap_bind.ts";
import { getKerberosStack as setup } from "./helpers/stack.ts";

Deno.test("SASL GSSAPI bind reports a server refusal with its result code and text", async () => {
  const stack = await setup();
  const conn = await LdapTestConnection.connect(stack.ldap.port);
  try {
    await assert.rejects(
      saslGssapiBind(conn.saslBindStep, {
        ccache: stack.ccaches.ldapClient,
        service: "ldap",
        host: "localhost",
        authzid: `dn:${stack.ldap.adminDn}`,
      }),
      (error: unknown) => {
        assert.ok(error instanceof SaslError, `${error}`);
        assert.notEqual(error.resultCode, 0);
        assert.notEqual(error.resultCode, 14);
        assert.ok(
          error.message.includes(`"${stack.principals.ldapClient}"`),
          error.message,
        );
        assert.ok(error.message.includes('"ldap@localhost"'), error.message);
        assert.ok(
          error.message.includes(`result code ${error.resultCode}`),
          error.message,
        );
        return true;
      },
    );
  } finally {
    conn.close();
  }
});

Deno.test("SASL GSSAPI bind to slapd with a ticket for another service fails with slapd's answer", async () => {
  const stack = await setup();
  const conn = await LdapTestConnection.connect(stack.ldap.port);
  try {
    // host/localhost exists in the realm, but slapd has no key for it.
    await assert.rejects(
      saslGssapiBind(conn.saslBindStep, {
        ccache: stack.ccaches.ldapClient,
        service: "host",
        host: "localhost",
      }),
      (error: unknown) => {
        assert.ok(error instanceof SaslError, `${error}`);
        assert.ok(
          error.resultCode !== undefined && error.resultCode !== 0 &&
            error.resultCode !== 14,
        );
        assert.ok(error.message.includes('"host@localhost"'), error.message);
        assert.ok(error.diagnosticMessage, "slapd gave no diagnostic");
        return true;
      },
    );
  } finally {
    conn.close();
  }
});

Deno.test("SASL GSSAPI bind fails before sending anything for bad caches, services and options", async () => {
  const stack = await setup();
  const dir = await Deno.makeTempDir({ prefix: "sasl-gssapi-test-" });
  let sends = 0;
  const send = (): Promise<SaslExchangeResult> => {
    sends++;
    return Promise.resolve({ resultCode: 80 });
  };
  try {
    await Deno.writeFile(`${dir}/empty.ccache`, new Uint8Array(0), {
      mode: 0o600,
    });
    const base = {
      ccache: stack.ccaches.ldapClient,
      service: "ldap",
      host: "localhost",
    };
    for (let i = 0; i < 20; i++) {
      await assert.rejects(
        saslGssapiBind(send, { ...base, ccache: `${dir}/empty.ccache` }),
        (error: unknown) =>
          error instanceof GssError &&
          error.message.includes(`${dir}/empty.ccache`),
      );
      await assert.rejects(
        saslGssapiBind(send, { ...base, ccache: `${dir}/missing.ccache` }),
        (error: unknown) =>
          error instanceof GssError &&
          error.message.includes("No credentials cache found"),
      );
      await assert.rejects(
        saslGssapiBind(send, { ...base, service: "nosuch" }),
        (error: unknown) =>
          error instanceof GssError &&
          error.message.includes("nosuch/localhost") &&
          error.message.includes(stack.principals.ldapClient),
      );
    }
    await assert.rejects(
      saslGssapiBind(send, { ...base, service: "ldap/x" }),
      TypeError,
    );
    await assert.rejects(
      saslGssapiBind(send, { ...base, host: "" }),
      TypeError,
    );
    await assert.rejects(
      saslGssapiBind(send, { ...base, layers: [] }),
      TypeError,
    );
    await assert.rejects(
      saslGssapiBind(send, {
        ...base,
        layers: ["secret" as SaslSecurityLayer],
      }),
      TypeError,
    );
    await assert.rejects(
      saslGssapiBind(send, { ...base, maxReceiveSize: 0 }),
      RangeError,
    );
    await assert.rejects(
      saslGssapiBind(send, { ...base, maxReceiveSize: 1 << 24 }),
      RangeError,
    );
    assert.equal(sends, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SASL GSSAPI bind rejects a server that answers out of protocol", async () => {
  const stack = await setup();
  const base = {
    ccache: stack.ccaches.ldapClient,
    service: "ldap",
    host: "localhost",
  };
  // A scripted peer (no real server sends these answers): success at once,
  // then an endless exchange of empty tokens.
  await assert.rejects(
    saslGssapiBind(() => Promise.resolve({ resultCode: 0 }), base),
    (error: unknown) =>
      error instanceof SaslError &&
      /result code 0 during context establishment/.test(error.message),
  );
  await assert.rejects(
    saslGssapiBind(
      () => Promise.resolve({ resultCode: 49, diagnosticMessage: "nope" }),
      base,
    ),
    (error: unknown) =>
      error instanceof SaslError && error.resultCode === 49 &&
      error.message.includes('"nope"'),
  );
  await assert.rejects(
    saslGssapiBind(
      () =>
        Promise.resolve({
          resultCode: 14,
          serverCredentials: new Uint8Array(40),
        }),
      base,
    ),
    (error: unknown) =>
      error instanceof GssError && error.message.includes("Cannot establish"),
  );
});
