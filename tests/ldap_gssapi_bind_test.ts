/**
 * SASL GSSAPI binds of the LDAP client against the real slapd and KDC of the
 * shared local stack: each security layer, the default choice (and none over
 * StartTLS), and the errors for an empty ticket cache and an unknown service.
 *
 * Needs: --allow-run (the stack), --allow-net=127.0.0.1,localhost,
 * --allow-read and --allow-write (temporary directories, the stack's files),
 * --allow-env (KRB5_CONFIG, KRB5CCNAME, WGSYNC_KEEP_STACK), --allow-ffi
 * (libgssapi_krb5).
 */

import assert from "node:assert/strict";
import {
  type BindOptions,
  closeSession,
  LdapBindError,
  openSession,
  parseLdapUrl,
} from "../lib/ldap/mod.ts";
import { refreshWorkgroups } from "./helpers/ldap_refresh.ts";
import { getKerberosStack as setup } from "./helpers/stack.ts";

for (const layer of ["none", "integrity", "confidentiality"] as const) {
  Deno.test(`LDAP SASL GSSAPI bind with the ${layer} layer carries a whole refresh`, async () => {
    const stack = await setup();
    const bind: BindOptions = {
      method: "gssapi",
      ccache: stack.ccaches.ldapClient,
      layers: [layer],
    };
    const session = await openSession(parseLdapUrl(stack.ldap.gssapiUrl), {
      bind,
    });
    try {
      assert.deepEqual(session.bind, {
        method: "gssapi",
        identity: stack.principals.ldapClient,
        layer,
      });
      assert.equal(session.connection.saslLayerActive, layer !== "none");
    } finally {
      await closeSession(session.connection);
    }
    // The largest workgroup's entry spans several SASL buffers.
    const result = await refreshWorkgroups(stack, {
      url: stack.ldap.gssapiUrl,
      bind,
    });
    assert.deepEqual(result, {
      entries: stack.data.workgroups,
      members: stack.data.memberValues,
    });
  });
}

Deno.test("LDAP SASL GSSAPI bind chooses the strongest layer by default and none over StartTLS", async () => {
  const stack = await setup();
  const bind: BindOptions = {
    method: "gssapi",
    ccache: stack.ccaches.ldapClient,
  };
  const url = parseLdapUrl(stack.ldap.gssapiUrl);
  const plain = await openSession(url, { bind });
  assert.equal(plain.bind.layer, "confidentiality");
  await closeSession(plain.connection);
  const tls = await openSession(url, {
    startTls: true,
    caFile: stack.ldap.caFile,
    bind,
  });
  assert.equal(tls.bind.layer, "none");
  assert.equal(tls.connection.saslLayerActive, false);
  await closeSession(tls.connection);
  const result = await refreshWorkgroups(stack, {
    url: stack.ldap.gssapiUrl,
    bind,
    startTls: true,
  });
  assert.equal(result.entries, stack.data.workgroups);
});

Deno.test("LDAP SASL GSSAPI bind with an empty ticket cache fails naming the service and the cache", async () => {
  const stack = await setup();
  const dir = await Deno.makeTempDir();
  try {
    const ccache = `${dir}/empty-ccache`;
    await Deno.writeFile(ccache, new Uint8Array(), { mode: 0o600 });
    await assert.rejects(
      openSession(parseLdapUrl(stack.ldap.gssapiUrl), {
        bind: { method: "gssapi", ccache },
      }),
      (error: Error) =>
        error instanceof LdapBindError &&
        error.message.includes("ldap/localhost") &&
        error.message.includes(ccache) &&
        error.cause instanceof Error,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LDAP SASL GSSAPI bind to an unknown service principal names the client principal and the GSS error", async () => {
  const stack = await setup();
  await assert.rejects(
    openSession(parseLdapUrl(stack.ldap.gssapiUrl), {
      bind: {
        method: "gssapi",
        ccache: stack.ccaches.ldapClient,
        saslHost: "no-such-host",
      },
    }),
    (error: Error) =>
      error instanceof LdapBindError &&
      error.message.startsWith(
        "Cannot bind to LDAP with SASL GSSAPI as ldap/no-such-host (",
      ) &&
      error.message.includes(stack.principals.ldapClient) &&
      /not found in Kerberos database/.test(error.message),
  );
});
