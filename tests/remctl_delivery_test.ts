/**
 * wgsync-remctl's delivery rules on the real stack: order per workgroup with
 * many workgroups at once, poison bodies dead-lettered at once without
 * blocking their workgroup, a failing command retried and then dead-lettered
 * by wgsync-remctl with the reason, and a 50,000-member snapshot (claim-checked in S3) reaching
 * the backend whole on standard input.
 */
import assert from "node:assert/strict";
import {
  ClaimCheckWriter,
  encodePointer,
  EXTENDED_PAYLOAD_SIZE_ATTRIBUTE,
} from "../lib/aws/mod.ts";
import type { Member } from "../lib/events/mod.ts";
import { POISON_REASON_ATTRIBUTE } from "../lib/wgsync_remctl/mod.ts";
import { RoleProcess, withTempDir } from "./helpers/ldap_role.ts";
import {
  awsClients,
  callsOf,
  createQueue,
  drain,
  eventually,
  publish,
  publishEvents,
  testEvent,
  type TestQueue,
  waitForCalls,
  waitForMessages,
  writeRemctlConfig,
} from "./helpers/remctl_role.ts";
import { getStack, type StackInfo } from "./helpers/stack.ts";
import { PublishCommand } from "@aws-sdk/client-sns";

async function withRole(
  stack: StackInfo,
  queue: TestQueue,
  fn: (role: RoleProcess) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const role = RoleProcess.start(
      stack,
      await writeRemctlConfig(stack, dir, [queue]),
      {
        role: "remctl",
      },
    );
    try {
      await role.waitForLog(/Ready: 1 targets/);
      await fn(role);
    } finally {
      assert.equal(await role.stop(), 0, role.stderr);
    }
  });
}

Deno.test("order per workgroup holds while 50 workgroups change at once", async () => {
  const stack = await getStack();
  const clients = awsClients(stack);
  const queue = await createQueue(stack, clients);
  await withRole(stack, queue, async () => {
    const perWorkgroup = 4;
    const workgroups = Array.from(
      { length: 50 },
      (_, i) => `${queue.stem}:wg${i}`,
    );
    await Promise.all(workgroups.map((workgroup) =>
      publishEvents(
        stack,
        clients.sns,
        Array.from({ length: perWorkgroup }, (_, seq) =>
          testEvent(
            workgroup,
            seq % 2 === 0 ? "member.added" : "member.removed",
            {
              seq,
              member: { dn: `uid=m${seq},dc=x`, id: `m${seq}`, uid: `m${seq}` },
            },
          )),
      )
    ));
    // At least once: moto's long poll may hand a message out twice, so the
    // order checked is that of each event's first run per workgroup.
    const firstRuns = new Map<string, string[]>();
    await eventually(
      async () => {
        firstRuns.clear();
        for (const call of await callsOf(stack, queue.stem)) {
          const runs = firstRuns.get(call.argv[2]) ?? [];
          if (!runs.includes(call.argv[4])) runs.push(call.argv[4]);
          firstRuns.set(call.argv[2], runs);
        }
        return [...firstRuns.values()].reduce((n, r) => n + r.length, 0) >=
          50 * perWorkgroup;
      },
      "every event's run",
      240_000,
    );
    assert.deepEqual(
      [...firstRuns.entries()].sort(),
      workgroups.map((w) => [w, ["m0", "m1", "m2", "m3"]]).sort(),
    );
    assert.deepEqual(await drain(clients.sqs, queue.dlqUrl), []);
  });
});

Deno.test("poison bodies are dead-lettered at once with their reason while the next message of the workgroup proceeds", async () => {
  const stack = await getStack();
  const clients = awsClients(stack);
  const queue = await createQueue(stack, clients);
  await withRole(stack, queue, async (role) => {
    const workgroup = `${queue.stem}:poisoned`;
    const wrongVersion = { ...testEvent(workgroup, "member.added"), v: 2 };
    const pointer = encodePointer({
      bucket: stack.aws.claimCheckBucket,
      key: "missing/object.json",
    });
    const poison = [
      { body: "not json at all", id: "p1" },
      { body: JSON.stringify(wrongVersion), id: "p2" },
      {
        body: JSON.stringify({
          ...testEvent(workgroup, "member.added"),
          member: undefined,
        }),
        id: "p3",
      },
      { body: pointer, id: "p4" },
    ];
    for (const { body, id } of poison) {
      await publish(stack, clients.sns, {
        body,
        id,
        workgroup,
        stem: queue.stem,
        type: "member.added",
      });
    }
    const good = testEvent(workgroup, "member.removed");
    await publishEvents(stack, clients.sns, [good]);
    const calls = await waitForCalls(stack, queue.stem, 1);
    assert.deepEqual(calls.map((c) => c.argv[8]), [good.id]);
    const dead = await waitForMessages(
      clients.sqs,
      queue.dlqUrl,
      poison.length,
    );
    assert.deepEqual(
      dead.map((
        m,
      ) => [
        m.Body,
        m.MessageAttributes?.[POISON_REASON_ATTRIBUTE]?.StringValue,
      ]),
      [
        [
          poison[0].body,
          `Cannot read the event as its body is not JSON: Unexpected token 'o', "not json at all" is not valid JSON`,
        ],
        [
          poison[1].body,
          'Cannot read the event as field "v" is invalid: Invalid input: expected 1',
        ],
        [
          poison[2].body,
          'Cannot read the event as field "member" is missing: a member.added event carries it',
        ],
        [
          pointer,
          `Cannot resolve the claim-check pointer as the S3 object does not exist: bucket is "${stack.aws.claimCheckBucket}", key is "missing/object.json"`,
        ],
      ],
    );
    // Dead-lettered by the role at once, not by SQS after retries.
    assert.deepEqual(dead.map((m) => m.Attributes?.ApproximateReceiveCount), [
      "1",
      "1",
      "1",
      "1",
    ]);
    // Logged once each, under the source message's id (the dead letter's deduplication id).
    for (const message of dead) {
      const source = message.Attributes?.MessageDeduplicationId;
      assert.equal(
        role.stderr.split(`message ${source} is poison`).length - 1,
        1,
        role.stderr,
      );
    }
    assert.deepEqual(await drain(clients.sqs, queue.url), []);
  });
});

Deno.test("a command that exits non-zero is retried with backoff and dead-lettered by wgsync-remctl after command_attempts runs, with the reason", async () => {
  const stack = await getStack();
  const clients = awsClients(stack);
  const queue = await createQueue(stack, clients);
  // writeRemctlConfig's command_attempts is 3; the queue's maxReceiveCount (50) is far above.
  await withRole(stack, queue, async (role) => {
    const workgroup = `${queue.stem}:failing`;
    const event = testEvent(workgroup, "member.added");
    const next = testEvent(workgroup, "member.removed");
    await Deno.writeTextFile(stack.remctl.exitCodeFile, "3");
    try {
      await publishEvents(stack, clients.sns, [event]);
      const calls = await waitForCalls(stack, queue.stem, 3, 60_000);
      assert.deepEqual(calls.map((c) => [c.argv[8], c.exitCode]), [
        [event.id, 3],
        [event.id, 3],
        [event.id, 3],
      ]);
      const [dead] = await waitForMessages(
        clients.sqs,
        queue.dlqUrl,
        1,
        60_000,
      );
      assert.equal(JSON.parse(dead.Body!).id, event.id);
      assert.match(
        dead.MessageAttributes?.[POISON_REASON_ATTRIBUTE]?.StringValue ?? "",
        /^command failed 3 times, last: exited 3: /,
      );
    } finally {
      await Deno.remove(stack.remctl.exitCodeFile);
    }
    // The workgroup goes on behind it.
    await publishEvents(stack, clients.sns, [next]);
    const calls = await waitForCalls(stack, queue.stem, 4, 60_000);
    assert.deepEqual(calls.map((c) => [c.argv[8], c.exitCode]), [
      [event.id, 3],
      [event.id, 3],
      [event.id, 3],
      [next.id, 0],
    ]);
    for (const attempt of [1, 2]) {
      assert.match(
        role.stderr,
        new RegExp(
          `\\(${event.id}\\) failed \\(attempt ${attempt} of 3\\), retried in \\d+ s: exited 3`,
        ),
      );
    }
    assert.match(
      role.stderr,
      new RegExp(`\\(${event.id}\\) failed 3 times, dead-lettered`),
    );
    assert.deepEqual(await drain(clients.sqs, queue.url), []);
  });
});

Deno.test("a 50,000-member snapshot stored in S3 reaches the backend whole on standard input", async () => {
  const stack = await getStack();
  const clients = awsClients(stack);
  const queue = await createQueue(stack, clients);
  await withRole(stack, queue, async () => {
    const workgroup = `${queue.stem}:huge`;
    const members: Member[] = Array.from({ length: 50_000 }, (_, i) => ({
      dn: `uid=member${i},ou=people,dc=example,dc=edu`,
      id: `member${i}`,
      uid: i % 7 === 0 ? null : `member${i}`,
    }));
    const event = testEvent(workgroup, "workgroup.snapshot", { members });
    const body = JSON.stringify(event);
    const writer = new ClaimCheckWriter(clients.s3, {
      bucket: stack.aws.claimCheckBucket,
    });
    const stored = await writer.store(event.id, body);
    await clients.sns.send(
      new PublishCommand({
        TopicArn: stack.aws.topicArn,
        Message: stored.body,
        MessageGroupId: workgroup,
        MessageDeduplicationId: event.id,
        MessageAttributes: {
          type: { DataType: "String", StringValue: event.type },
          stem: { DataType: "String", StringValue: event.stem },
          workgroup: { DataType: "String", StringValue: workgroup },
          [EXTENDED_PAYLOAD_SIZE_ATTRIBUTE]: {
            DataType: "Number",
            StringValue: String(stored.size),
          },
        },
      }),
    );
    const [call] = await waitForCalls(stack, queue.stem, 1, 120_000);
    assert.equal(call.argv[8], event.id);
    assert.ok(
      call.stdin.length > 2_000_000,
      `stdin is ${call.stdin.length} bytes`,
    );
    assert.deepEqual(JSON.parse(call.stdin), members);
  });
});
