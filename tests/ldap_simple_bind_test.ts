/**
 * Simple and anonymous binds of the LDAP client against the real slapd of the
 * shared local stack: the password from a file, a wrong password, bad
 * password files, what anonymous users see.
 *
 * Needs: --allow-run (the stack), --allow-net=127.0.0.1,localhost,
 * --allow-read and --allow-write (temporary directories, the stack's files),
 * --allow-env (KRB5_CONFIG, KRB5CCNAME, WGSYNC_KEEP_STACK), --allow-ffi
 * (libgssapi_krb5).
 */

import assert from "node:assert/strict";
import {
  closeSession,
  LdapBindError,
  LdapResultError,
  openSession,
  parseLdapUrl,
  SyncSearch,
} from "../lib/ldap/mod.ts";
import { refreshWorkgroups } from "./helpers/ldap_refresh.ts";
import { getKerberosStack as setup } from "./helpers/stack.ts";

Deno.test("LDAP simple bind reads the password from a file and syncs", async () => {
  const stack = await setup();
  const result = await refreshWorkgroups(stack, {
    url: stack.ldap.url,
    bind: {
      method: "simple",
      dn: stack.ldap.adminDn,
      passwordFile: stack.ldap.adminPasswordFile,
    },
  });
  assert.deepEqual(result, {
    entries: stack.data.workgroups,
    members: stack.data.memberValues,
  });
});

Deno.test("LDAP simple bind with a wrong password fails naming the DN and result code 49", async () => {
  const stack = await setup();
  const dir = await Deno.makeTempDir();
  try {
    const passwordFile = `${dir}/password`;
    await Deno.writeTextFile(passwordFile, "not-the-password\n", {
      mode: 0o600,
    });
    try {
      await openSession(parseLdapUrl(stack.ldap.url), {
        bind: { method: "simple", dn: stack.ldap.adminDn, passwordFile },
      });
      assert.fail("the bind succeeded");
    } catch (caught) {
      assert.ok(caught instanceof LdapBindError);
      assert.match(caught.message, new RegExp(`as "${stack.ldap.adminDn}"`));
      assert.match(caught.message, /result code 49/);
      assert.ok(caught.cause instanceof LdapResultError);
      assert.equal(caught.cause.resultCode, 49);
      assert.ok(!caught.message.includes("not-the-password"));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LDAP simple bind with a missing, empty or group-readable password file names the path", async () => {
  const stack = await setup();
  const dir = await Deno.makeTempDir();
  try {
    const url = parseLdapUrl(stack.ldap.url);
    const missing = `${dir}/missing`;
    await assert.rejects(
      openSession(url, {
        bind: {
          method: "simple",
          dn: stack.ldap.adminDn,
          passwordFile: missing,
        },
      }),
      (error: Error) =>
        error instanceof LdapBindError &&
        error.message ===
          `Cannot bind to LDAP as the password file is missing: path is "${missing}"`,
    );
    const empty = `${dir}/empty`;
    await Deno.writeTextFile(empty, "\n", { mode: 0o600 });
    await assert.rejects(
      openSession(url, {
        bind: { method: "simple", dn: stack.ldap.adminDn, passwordFile: empty },
      }),
      /password file is empty: path is/,
    );
    const loose = `${dir}/loose`;
    await Deno.writeTextFile(loose, "secret\n", { mode: 0o644 });
    await Deno.chmod(loose, 0o644);
    await assert.rejects(
      openSession(url, {
        bind: { method: "simple", dn: stack.ldap.adminDn, passwordFile: loose },
      }),
      (error: Error) =>
        error instanceof LdapBindError &&
        error.message ===
          `Cannot bind to LDAP as the password file is open to group or others: path is "${loose}", mode is 0644, expected 0600 or tighter`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LDAP anonymous bind succeeds and sees only what the ACLs grant anonymous users", async () => {
  const stack = await setup();
  const session = await openSession(parseLdapUrl(stack.ldap.url), {
    bind: { method: "anonymous" },
  });
  try {
    assert.deepEqual(session.bind, {
      method: "anonymous",
      identity: "",
      layer: "none",
    });
    const search = await SyncSearch.start(session.connection, {
      baseDN: stack.ldap.workgroupBase,
      mode: "refreshOnly",
    });
    // The stack's ACL gives anonymous users nothing: slapd hides the base entry.
    await assert.rejects(
      search.next(),
      (error: Error) =>
        error instanceof LdapResultError && error.resultCode === 32,
    );
  } finally {
    await closeSession(session.connection);
  }
});
