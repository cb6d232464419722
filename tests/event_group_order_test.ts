/**
 * Several events of one message group in flight at once (the channel
 * server's per-key window, keyed by the message group): wgsync-event as a
 * subprocess against the stack's moto, fed by the real channel client, puts
 * consecutive events of one group into the same PublishBatch, mixes groups
 * in a batch, and every group still arrives in the SQS FIFO queue in exact
 * order — with a claim-check (S3) event among them, and with one batch entry
 * refused by a relay in front of moto (the fake of the one thing moto cannot
 * do: fail one entry; see tests/helpers/sns_batch_refusal.ts).
 */

import assert from "node:assert/strict";
import { AwsRelay } from "./helpers/aws_relay.ts";
import type { BatchEntry } from "./helpers/sns_batch_refusal.ts";
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
import { getStack, type StackInfo } from "./helpers/stack.ts";
import type { WorkgroupEvent } from "../lib/events/mod.ts";

function unique(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

async function withRole(
  fn: (
    context: {
      stack: StackInfo;
      aws: ReturnType<typeof awsClients>;
      role: EventProcess;
    },
  ) => Promise<void>,
  options: { endpoint?: string; maxMessageBytes?: number } = {},
): Promise<void> {
  const stack = await getStack();
  const aws = awsClients(stack);
  await withTempDir(async (dir) => {
    const files = await writeEventConfig(stack, dir, options);
    const role = EventProcess.start(files, stack);
    try {
      await role.waitReady();
      await fn({ stack, aws, role });
      assert.equal(await role.stop(), 0, role.stderr);
    } finally {
      await role.stop();
      aws.destroy();
    }
  });
}

/** The histogram's bucket counts by `le`, and its count. */
async function batchSizes(role: EventProcess) {
  const text = await role.metrics();
  const bucket = (le: string) =>
    Number(
      new RegExp(`^wgsync_event_batch_size_bucket\\{le="${le}"\\} (\\d+)$`, "m")
        .exec(text)?.[1],
    );
  const count = Number(
    /^wgsync_event_batch_size_count (\d+)$/m.exec(text)?.[1],
  );
  return { single: bucket("1"), count };
}

/** Events `1..n` of one workgroup; `big` (1-based) is a 400-member workgroup.created. */
function oneWorkgroup(stem: string, n: number, big?: number): WorkgroupEvent[] {
  const workgroup = `${stem}:busy`;
  return Array.from(
    { length: n },
    (_, i) =>
      i + 1 === big
        ? makeEvent(workgroup, i + 1, {
          type: "workgroup.created",
          members: 400,
        })
        : makeEvent(workgroup, i + 1),
  );
}

Deno.test("400 events of one workgroup, a claim-check one among them, arrive in exact order, several to a PublishBatch", async () => {
  await withRole(async ({ stack, aws, role }) => {
    const stem = unique("order");
    const queue = await subscribedQueue(
      aws,
      stack.aws.topicArn,
      unique("order-q"),
      { stem: [stem] },
    );
    const events = oneWorkgroup(stem, 400, 150);
    await sendEvents(role.files, events, {
      connections: 1,
      timeoutMs: 180_000,
    });
    const received = await drainQueue(aws.sqs, queue, {
      expect: events.length,
      timeoutMs: 120_000,
    });
    assert.deepEqual(
      received.map((m) => m.dedupId),
      events.map((e) => e.id),
    );
    assert.equal(
      await role.counter("wgsync_event_published_total", 'path="claim_check"'),
      1,
    );
    const { single, count } = await batchSizes(role);
    // More than one entry in some calls: fewer calls than events, not all single.
    assert.ok(count < events.length && single < count, `${single}/${count}`);
  }, { maxMessageBytes: 16_384 });
});

/** Events `0..n-1` of each workgroup, interleaved (a0, b0, c0, a1, …). */
function interleaved(workgroups: string[], n: number): WorkgroupEvent[] {
  return Array.from(
    { length: n * workgroups.length },
    (_, i) =>
      makeEvent(
        workgroups[i % workgroups.length],
        Math.floor(i / workgroups.length),
      ),
  );
}

Deno.test("a refused entry of a PublishBatch mixing groups is sent again before its group's later events; every group arrives in order", async () => {
  const stack = await getStack();
  // Three stems: three message groups whether the group is the workgroup or its stem.
  const stems = [unique("ra"), unique("rb"), unique("rc")];
  const workgroups = stems.map((stem) => `${stem}:g`);
  const events = interleaved(workgroups, 100);
  const refused: BatchEntry[] = [];
  /** Per PublishBatch call the relay saw, the group of each entry, in order. */
  const calls: string[][] = [];
  // The first entry of a call that has another group's entry before it and a
  // later entry of its own group: the relay refuses it and its group's later
  // entries of the call, and accepts the other groups' entries.
  const relay = AwsRelay.start(stack.aws.endpoint, {
    refuseEntry: (entry, call) => {
      if (entry.id === "e0") {
        calls.push(call.map((e) => e.groupId));
        return false;
      }
      if (refused.length > 0) return false;
      const at = call.indexOf(entry);
      const mixed = call.slice(0, at).some((e) => e.groupId !== entry.groupId);
      const later = call.slice(at + 1).some((e) => e.groupId === entry.groupId);
      if (!mixed || !later) return false;
      refused.push(entry);
      return true;
    },
  });
  try {
    await withRole(async ({ aws, role }) => {
      const queue = await subscribedQueue(
        aws,
        stack.aws.topicArn,
        unique("refused-q"),
        { stem: stems },
      );
      // One event per stem first, so the three stems are known and the
      // rest reach the publisher together: its first batch mixes them.
      await sendEvents(role.files, events.slice(0, 3), { connections: 1 });
      await sendEvents(role.files, events.slice(3), {
        connections: 1,
        timeoutMs: 180_000,
      });
      const received = await drainQueue(aws.sqs, queue, {
        expect: events.length,
        timeoutMs: 120_000,
      });
      assert.equal(refused.length, 1, JSON.stringify(calls));
      for (const workgroup of workgroups) {
        assert.deepEqual(
          received.filter((m) => JSON.parse(m.body).workgroup === workgroup)
            .map((m) => m.dedupId),
          events.filter((e) => e.workgroup === workgroup).map((e) => e.id),
          workgroup,
        );
      }
      assert.equal(received.length, events.length);
      assert.ok(
        await role.counter(
          "wgsync_event_failed_total",
          'reason="entry_failed"',
        ) >= 1,
      );
      // Batches mixed groups, and some carried several entries of one group.
      const groupsIn = (call: string[]) => new Set(call).size;
      assert.ok(
        calls.some((call) => groupsIn(call) > 1),
        JSON.stringify(calls),
      );
      assert.ok(
        calls.some((call) => groupsIn(call) < call.length),
        JSON.stringify(calls),
      );
    }, { endpoint: relay.endpoint });
  } finally {
    await relay.close();
  }
});
