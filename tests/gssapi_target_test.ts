/**
 * GssInitiator's targets: an unknown service principal is named, a bad target
 * is refused up front, and a closed initiator cannot be used; against the
 * local stack's real KDC.
 *
 * Needs: --allow-ffi, --allow-env (KRB5_CONFIG, KRB5CCNAME), --allow-run
 * (kinit, klist; the stack's daemons), --allow-net=127.0.0.1, read/write in
 * the temporary directories.
 */

import assert from "node:assert/strict";
import { GssInitiator } from "../lib/gssapi/mod.ts";
import { expectGssError, REPEATS } from "./helpers/gssapi.ts";
import { getKerberosStack as setup } from "./helpers/stack.ts";

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
