/**
 * Events of any size: a `workgroup.created` of a 50,000-member workgroup
 * (several MB of JSON, beyond SNS's 256 KiB) goes through S3, and the SQS
 * message is the pointer in the format of AWS's extended clients with the
 * `ExtendedPayloadSize` attribute; lib/aws's reader (what wgsync-remctl
 * uses) gets the whole event back. Small events of the same workgroup keep
 * their order around it.
 */

import assert from "node:assert/strict";
import {
  EXTENDED_PAYLOAD_SIZE_ATTRIBUTE,
  PAYLOAD_POINTER_CLASS,
  resolvePayload,
} from "../lib/aws/mod.ts";
import {
  awsClients,
  drainQueue,
  EventProcess,
  makeEvent,
  sendEvents,
  subscribedQueue,
  withTempDir,
  writeEventConfig,
} from "./helpers/event_role.ts";
import { getStack } from "./helpers/stack.ts";

Deno.test("a 50,000-member workgroup.created arrives whole through S3 behind an extended-client pointer", async () => {
  const stack = await getStack();
  const aws = awsClients(stack);
  await withTempDir(async (dir) => {
    const files = await writeEventConfig(stack, dir);
    const role = EventProcess.start(files, stack);
    try {
      await role.waitReady();
      const stem = `big-${crypto.randomUUID().slice(0, 8)}`;
      const workgroup = `${stem}:everyone`;
      const queue = await subscribedQueue(aws, stack.aws.topicArn, stem, {
        stem: [stem],
      });
      const before = makeEvent(workgroup, 1, { type: "member.added" });
      const created = makeEvent(workgroup, 2, {
        type: "workgroup.created",
        members: 50_000,
      });
      const after = makeEvent(workgroup, 3, { type: "member.removed" });
      const json = JSON.stringify(created);
      const size = new TextEncoder().encode(json).length;
      assert.ok(size > 262_144 * 4, `the event is only ${size} bytes`);
      await sendEvents(files, [before, created, after]);
      const messages = await drainQueue(aws.sqs, queue, { expect: 3 });
      assert.deepEqual(
        messages.map((m) => m.dedupId),
        [before.id, created.id, after.id],
      );
      const pointer = messages[1];
      assert.deepEqual(JSON.parse(pointer.body), [
        PAYLOAD_POINTER_CLASS,
        {
          s3BucketName: stack.aws.claimCheckBucket,
          s3Key: `events/${created.id}.json`,
        },
      ]);
      assert.deepEqual(pointer.attributes, {
        [EXTENDED_PAYLOAD_SIZE_ATTRIBUTE]: {
          type: "Number",
          value: String(size),
        },
        type: { type: "String", value: "workgroup.created" },
        stem: { type: "String", value: stem },
        workgroup: { type: "String", value: workgroup },
      });
      assert.equal(pointer.groupId, stem);
      const body = await resolvePayload(aws.s3, pointer.body, {
        size: pointer.attributes[EXTENDED_PAYLOAD_SIZE_ATTRIBUTE].value,
      });
      assert.equal(body, json);
      assert.equal(JSON.parse(body).members.length, 50_000);
      // The small ones were published as they are.
      assert.deepEqual(JSON.parse(messages[0].body), before);
      assert.deepEqual(JSON.parse(messages[2].body), after);
      assert.equal(
        await role.counter(
          "wgsync_event_published_total",
          'path="claim_check"',
        ),
        1,
      );
      assert.equal(await role.stop(), 0, role.stderr);
    } finally {
      await role.stop();
      aws.destroy();
    }
  });
});
