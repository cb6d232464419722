/**
 * keytab-obtain's decryption: the stack's encrypted keytab becomes the clear
 * keytab, and what KMS and AES-256-GCM refuse (another encryption context,
 * another KMS key, a changed byte, another data key).
 *
 * wgsync-keytab-obtain against the local stack: the stack's encrypted
 * keytabs (sealed by the provisioning side with moto's KMS), the role run as
 * a subprocess with exactly its permissions (plus the test's directories),
 * real KMS Decrypt with encryption contexts, real MIT keytabs (kadmin.local,
 * klist, kinit).
 */

import assert from "node:assert/strict";
import { CreateKeyCommand } from "@aws-sdk/client-kms";
import { encryptKeytab } from "../lib/wgsync_keytab_obtain/mod.ts";
import { getStack } from "./helpers/stack.ts";
import {
  assertRefused,
  filesNextToOutput,
  kmsOf,
  makeCase,
  obtain,
  removeCase,
  rewriteEncrypted,
} from "./helpers/keytab_obtain.ts";

const decoder = new TextDecoder();

Deno.test("keytab-obtain: the stack's encrypted keytab decrypts to the clear keytab, 0400, owned by the owner, usable by kinit", async () => {
  const stack = await getStack();
  const testCase = await makeCase(stack, { section: { owner: "nobody" } });
  try {
    const { code, stderr } = await obtain(stack, testCase);
    assert.equal(code, 0, stderr);
    assert.deepEqual(
      await Deno.readFile(testCase.output),
      await Deno.readFile(stack.keytabs.ldapClient),
    );
    const info = await Deno.stat(testCase.output);
    assert.equal((info.mode ?? 0) & 0o7777, 0o400);
    const nobody = (await Deno.readTextFile("/etc/passwd")).split("\n")
      .find((line) => line.startsWith("nobody:"))!.split(":");
    assert.deepEqual([info.uid, info.gid], [
      Number(nobody[2]),
      Number(nobody[3]),
    ]);
    assert.deepEqual(await filesNextToOutput(testCase), ["wgsync-ldap.keytab"]);
    const kinit = await new Deno.Command("kinit", {
      args: [
        "-k",
        "-t",
        testCase.output,
        "-c",
        `${testCase.dir}/ccache`,
        stack.principals.ldapClient,
      ],
      env: { KRB5_CONFIG: stack.krb5Config },
      stderr: "piped",
    }).output();
    assert.equal(kinit.code, 0, decoder.decode(kinit.stderr));
  } finally {
    await removeCase(testCase);
  }
});

Deno.test("keytab-obtain: a keytab sealed for ldap is refused for remctl (KMS encryption context)", async () => {
  const stack = await getStack();
  const testCase = await makeCase(stack, {
    instance: "remctl",
    encrypted: `${stack.dir}/keytabs/wgsync-ldap.keytab.enc`,
  });
  try {
    await assertRefused(
      stack,
      testCase,
      /KMS refused to decrypt the data key for the encryption context \{"wgsync:keytab": "remctl"\}: InvalidCiphertextException/,
      "remctl",
    );
  } finally {
    await removeCase(testCase);
  }
});

Deno.test("keytab-obtain: a data key of another KMS key than kms_key_id is refused", async () => {
  const stack = await getStack();
  const kms = kmsOf(stack);
  const other = await kms.send(new CreateKeyCommand({}));
  kms.destroy();
  const testCase = await makeCase(stack, {
    section: { kms_key_id: other.KeyMetadata!.KeyId },
  });
  try {
    await assertRefused(stack, testCase, /KMS refused to decrypt/);
  } finally {
    await removeCase(testCase);
  }
});

Deno.test("keytab-obtain: one changed byte of the ciphertext fails the AES-256-GCM tag", async () => {
  const stack = await getStack();
  const testCase = await makeCase(stack);
  const bytes = await Deno.readFile(
    `${stack.dir}/keytabs/wgsync-ldap.keytab.enc`,
  );
  bytes[bytes.length - 20] ^= 0x01;
  testCase.encrypted = `${testCase.dir}/tampered.enc`;
  await Deno.writeFile(testCase.encrypted, bytes);
  await rewriteEncrypted(testCase);
  try {
    await assertRefused(stack, testCase, /the AES-256-GCM tag does not match/);
  } finally {
    await removeCase(testCase);
  }
});

Deno.test("keytab-obtain: a ciphertext under another data key (header of another file) fails the tag", async () => {
  const stack = await getStack();
  const testCase = await makeCase(stack);
  const kms = kmsOf(stack);
  const clear = await Deno.readFile(stack.keytabs.ldapClient);
  const first = await encryptKeytab(clear, {
    kms,
    keyId: stack.aws.kmsKeyId,
    instance: "ldap",
  });
  const second = await encryptKeytab(clear, {
    kms,
    keyId: stack.aws.kmsKeyId,
    instance: "ldap",
  });
  kms.destroy();
  const headerLength = 7 + ((first[5] << 8) | first[6]);
  const spliced = new Uint8Array(second);
  spliced.set(first.subarray(0, headerLength), 0);
  assert.equal(headerLength, 7 + ((second[5] << 8) | second[6]));
  testCase.encrypted = `${testCase.dir}/spliced.enc`;
  await Deno.writeFile(testCase.encrypted, spliced);
  await rewriteEncrypted(testCase);
  try {
    await assertRefused(stack, testCase, /the AES-256-GCM tag does not match/);
  } finally {
    await removeCase(testCase);
  }
});
