/**
 * keytab-obtain's checks of the decrypted keytab: the expected principal, no
 * RC4 key unless allowed.
 *
 * wgsync-keytab-obtain against the local stack: the stack's encrypted
 * keytabs (sealed by the provisioning side with moto's KMS), the role run as
 * a subprocess with exactly its permissions (plus the test's directories),
 * real KMS Decrypt with encryption contexts, real MIT keytabs (kadmin.local,
 * klist, kinit).
 */

import assert from "node:assert/strict";
import { encryptKeytab } from "../lib/wgsync_keytab_obtain/mod.ts";
import { getStack } from "./helpers/stack.ts";
import {
  assertRefused,
  kmsOf,
  makeCase,
  obtain,
  removeCase,
  rewriteEncrypted,
} from "./helpers/keytab_obtain.ts";

const decoder = new TextDecoder();

Deno.test("keytab-obtain: a keytab without the expected principal is refused, naming the principals found", async () => {
  const stack = await getStack();
  const testCase = await makeCase(stack, {
    principal: "service/someone-else@WGSYNC.TEST",
  });
  try {
    await assertRefused(
      stack,
      testCase,
      /expected a key of service\/someone-else@WGSYNC\.TEST, found keys of service\/wgsync-ldap@WGSYNC\.TEST only/,
    );
  } finally {
    await removeCase(testCase);
  }
});

Deno.test("keytab-obtain: an RC4 key is refused unless allow_rc4 is set", async () => {
  const stack = await getStack();
  const principal = `test/rc4-${crypto.randomUUID().slice(0, 8)}`;
  const dir = await Deno.makeTempDir({ prefix: "wgsync-keytab-rc4-" });
  const clear = `${dir}/rc4.keytab`;
  const env = {
    KRB5_CONFIG: stack.krb5Config,
    KRB5_KDC_PROFILE: stack.kdc.kdcProfile,
  };
  for (
    const query of [
      `addprinc -randkey -e arcfour-hmac:normal ${principal}`,
      `ktadd -k ${clear} -e arcfour-hmac:normal ${principal}`,
    ]
  ) {
    const result = await new Deno.Command("kadmin.local", {
      args: ["-q", query],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(result.code, 0, decoder.decode(result.stderr));
  }
  const kms = kmsOf(stack);
  const sealed = await encryptKeytab(await Deno.readFile(clear), {
    kms,
    keyId: stack.aws.kmsKeyId,
    instance: "ldap",
  });
  kms.destroy();
  const refused = await makeCase(stack, {
    principal: `${principal}@${stack.realm}`,
  });
  const allowed = await makeCase(stack, {
    principal: `${principal}@${stack.realm}`,
    section: { allow_rc4: true },
  });
  for (const testCase of [refused, allowed]) {
    testCase.encrypted = `${testCase.dir}/rc4.enc`;
    await Deno.writeFile(testCase.encrypted, sealed);
    await rewriteEncrypted(testCase);
  }
  try {
    await assertRefused(
      stack,
      refused,
      new RegExp(
        `expected only keys of the encryption types aes256-cts-hmac-sha384-192, .*, found ${principal}@WGSYNC\\.TEST kvno 2 arcfour-hmac`,
      ),
    );
    const { code, stderr } = await obtain(stack, allowed);
    assert.equal(code, 0, stderr);
    assert.deepEqual(
      await Deno.readFile(allowed.output),
      await Deno.readFile(clear),
    );
  } finally {
    await removeCase(refused);
    await removeCase(allowed);
    await Deno.remove(dir, { recursive: true });
  }
});
