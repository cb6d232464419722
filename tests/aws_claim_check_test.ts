/**
 * lib/aws against the local stack's moto: the client factories from an
 * `[aws]` section with a credentials file, and the claim-check writer and
 * reader in the extended clients' pointer format (round trip through real
 * S3 calls, a malformed pointer, a missing object, a size mismatch).
 */

import assert from "node:assert/strict";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import {
  AwsSettingsError,
  ClaimCheckWriter,
  createS3Client,
  encodePointer,
  loadAwsSettings,
  parsePointer,
  PAYLOAD_POINTER_CLASS,
  readCredentialsFile,
  resolvePayload,
} from "../lib/aws/mod.ts";
import { getStack } from "./helpers/stack.ts";
import { parseConfig } from "../lib/config/mod.ts";

async function stackS3() {
  const stack = await getStack();
  const config = parseConfig(
    await Deno.readTextFile(stack.config),
    stack.config,
  );
  const settings = await loadAwsSettings(config.aws!);
  return { stack, config, s3: createS3Client(settings) };
}

Deno.test("claim check: a stored payload resolves through the pointer in the extended clients' format", async () => {
  const { stack, config, s3 } = await stackS3();
  try {
    const bucket = config.event!.claim_check_bucket;
    assert.equal(bucket, stack.aws.claimCheckBucket);
    const writer = new ClaimCheckWriter(s3, { bucket });
    const id = "a".repeat(64);
    const body = JSON.stringify({ id, members: ["é".repeat(300_000)] });
    const stored = await writer.store(id, body);
    assert.deepEqual(
      JSON.parse(stored.body),
      [PAYLOAD_POINTER_CLASS, {
        s3BucketName: bucket,
        s3Key: `events/${id}.json`,
      }],
    );
    assert.equal(stored.size, new TextEncoder().encode(body).length);
    assert.equal(
      await resolvePayload(s3, stored.body, { size: String(stored.size) }),
      body,
    );
    await assert.rejects(
      resolvePayload(s3, stored.body, { size: stored.size - 1 }),
      {
        name: "ClaimCheckError",
        message:
          `Cannot resolve the claim-check pointer as the S3 object's size differs from ExtendedPayloadSize: bucket is "${bucket}", key is "events/${id}.json", expected ${
            stored.size - 1
          } bytes, found ${stored.size}`,
      },
    );
    await assert.rejects(
      resolvePayload(s3, stored.body, { allowedBuckets: ["other"] }),
      { name: "ClaimCheckError", message: /is not an allowed one/ },
    );
  } finally {
    s3.destroy();
  }
});

Deno.test("claim check: a body that is not a pointer is returned as it is", async () => {
  const { s3 } = await stackS3();
  try {
    for (const body of ['{"v":1}', "[1,2]", "[not json", "plain text"]) {
      assert.equal(await resolvePayload(s3, body), body);
      assert.equal(parsePointer(body), undefined);
    }
  } finally {
    s3.destroy();
  }
});

Deno.test("claim check: a malformed pointer and a missing object are clear errors", async () => {
  const { stack, s3 } = await stackS3();
  try {
    const bucket = stack.aws.claimCheckBucket;
    assert.throws(
      () =>
        parsePointer(JSON.stringify([PAYLOAD_POINTER_CLASS, { s3Key: "k" }])),
      {
        name: "ClaimCheckError",
        message:
          `Cannot resolve the claim-check pointer as it is malformed: expected a non-empty string "s3BucketName", found ["${PAYLOAD_POINTER_CLASS}",{"s3Key":"k"}]`,
      },
    );
    assert.throws(() => parsePointer(JSON.stringify([PAYLOAD_POINTER_CLASS])), {
      name: "ClaimCheckError",
      message: /malformed: expected 2 elements, found 1/,
    });
    const missing = encodePointer({ bucket, key: "events/missing.json" });
    await assert.rejects(resolvePayload(s3, missing), {
      name: "ClaimCheckError",
      message:
        `Cannot resolve the claim-check pointer as the S3 object does not exist: bucket is "${bucket}", key is "events/missing.json"`,
    });
    const noBucket = encodePointer({ bucket: "no-such-bucket", key: "k" });
    await assert.rejects(resolvePayload(s3, noBucket), {
      name: "ClaimCheckError",
      message: /does not exist: bucket is "no-such-bucket"/,
    });
    // An object another writer stored is read the same way.
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: "other/x", Body: "hello" }),
    );
    assert.equal(
      await resolvePayload(s3, encodePointer({ bucket, key: "other/x" })),
      "hello",
    );
    const writer = new ClaimCheckWriter(s3, { bucket });
    assert.throws(() => writer.keyFor("../etc"), {
      name: "ClaimCheckError",
      message: /Cannot derive a claim-check key from the event id/,
    });
  } finally {
    s3.destroy();
  }
});

Deno.test("aws settings: the credentials file must be 0600 and hold access_key_id:secret", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-aws-" });
  try {
    const file = `${dir}/credentials`;
    await Deno.writeTextFile(file, "AKID:s3cr3t\n", { mode: 0o600 });
    assert.deepEqual(await readCredentialsFile(file), {
      accessKeyId: "AKID",
      secretAccessKey: "s3cr3t",
    });
    await Deno.chmod(file, 0o640);
    await assert.rejects(readCredentialsFile(file), {
      name: "AwsSettingsError",
      message:
        `Cannot use the AWS credentials file as it is open to group or others: path is "${file}", mode is 0640, expected 0600 or tighter`,
    });
    await Deno.chmod(file, 0o600);
    await Deno.writeTextFile(file, "no-colon\n");
    await assert.rejects(readCredentialsFile(file), {
      name: "AwsSettingsError",
      message:
        `Cannot use the AWS credentials file as it does not hold one line "access_key_id:secret": path is "${file}"`,
    });
    await assert.rejects(readCredentialsFile(`${dir}/absent`), (error) => {
      assert.ok(error instanceof AwsSettingsError);
      assert.match(error.message, /Cannot read the AWS credentials file/);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
