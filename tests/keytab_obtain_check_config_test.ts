/**
 * keytab-obtain's --check-config: a missing --instance and an unreadable
 * encrypted keytab exit 78.
 *
 * wgsync-keytab-obtain against the local stack: the stack's encrypted
 * keytabs (sealed by the provisioning side with moto's KMS), the role run as
 * a subprocess with exactly its permissions (plus the test's directories),
 * real KMS Decrypt with encryption contexts, real MIT keytabs (kadmin.local,
 * klist, kinit).
 */

import assert from "node:assert/strict";
import { getStack } from "./helpers/stack.ts";
import { makeCase, removeCase, roleCommand } from "./helpers/keytab_obtain.ts";

const decoder = new TextDecoder();

Deno.test("keytab-obtain: --check-config refuses a missing --instance and an unreadable encrypted keytab (78)", async () => {
  const stack = await getStack();
  const testCase = await makeCase(stack, {
    encrypted: "/etc/wgsync/no-such.keytab.enc",
  });
  try {
    const missing = await roleCommand(stack, testCase, [
      "--config",
      testCase.config,
      "--check-config",
    ]).output();
    assert.equal(missing.code, 78);
    assert.match(
      decoder.decode(missing.stderr),
      /flag "--instance" expected ldap or remctl, found null/,
    );
    const unreadable = await roleCommand(stack, testCase, [
      "--config",
      testCase.config,
      "--instance",
      "ldap",
      "--check-config",
    ]).output();
    assert.equal(unreadable.code, 78);
    assert.match(
      decoder.decode(unreadable.stderr),
      /key "keytab_obtain\.ldap\.encrypted_keytab" expected an encrypted keytab, found .*: path is "\/etc\/wgsync\/no-such\.keytab\.enc"/,
    );
  } finally {
    await removeCase(testCase);
  }
});
