/**
 * wgsync-event as a subprocess against the local stack's moto, fed by the
 * real channel client: the message format in SQS FIFO queues subscribed to
 * the topic, routing by the stem filter policies, disabled stems, a stem's
 * topic override, one DynamoDB read for a burst of one stem (counted by a
 * relay in front of moto), an invalid event among good ones, and a peer
 * with the wrong key.
 */

import assert from "node:assert/strict";
import { GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { ChannelClient } from "../lib/channel/mod.ts";
import { AwsRelay } from "./helpers/aws_relay.ts";
import { writeKey } from "./helpers/channel.ts";
import {
  awsClients,
  createFifoTopic,
  drainQueue,
  EventProcess,
  keepDrained,
  makeEvent,
  sendEvents,
  subscribedQueue,
  until,
  withTempDir,
  writeEventConfig,
} from "./helpers/event_role.ts";
import { getStack, type StackInfo } from "./helpers/stack.ts";

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
  options: { endpoint?: string } = {},
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

Deno.test("an event reaches the FIFO queues whose filter policy names its stem, with group id, dedup id, attributes and body", async () => {
  await withRole(async ({ stack, aws, role }) => {
    const research = stack.aws.queues.find((q) => q.target === "research")!;
    const uit = stack.aws.queues.find((q) => q.target === "uit")!;
    const events = [
      makeEvent("research-computing:sherlock", 1),
      makeEvent("uit:staff", 1, { type: "workgroup.created", members: 3 }),
      makeEvent(`${unique("other")}:g`, 1),
    ];
    await sendEvents(role.files, events);
    const [inResearch, inUit] = await Promise.all([
      drainQueue(aws.sqs, research.url, { expect: 1 }),
      drainQueue(aws.sqs, uit.url, { expect: 1 }),
    ]);
    const expected = (event: (typeof events)[number]) => ({
      body: JSON.stringify(event),
      groupId: event.stem,
      dedupId: event.id,
      attributes: {
        type: { type: "String", value: event.type },
        stem: { type: "String", value: event.stem },
        workgroup: { type: "String", value: event.workgroup },
      },
    });
    assert.deepEqual(inResearch, [expected(events[0])]);
    assert.deepEqual(inUit, [expected(events[1])]);
    assert.deepEqual(JSON.parse(inUit[0].body), events[1]);
    assert.equal(
      await role.counter("wgsync_event_published_total"),
      3,
    );
    assert.ok(
      role.notify.messages.includes(
        "READY=1\nSTATUS=running; 0 connections, 0 events/s, 0 published, 0 disabled",
      ),
      JSON.stringify(role.notify.messages),
    );
    const health = await fetch(
      `http://127.0.0.1:${role.files.metricsPort}/healthz`,
    );
    assert.deepEqual(
      { status: health.status, body: await health.json() },
      {
        status: 200,
        body: {
          ok: true,
          detail: {
            connections: 0,
            handled: 3,
            published: 3,
            disabled: 0,
            invalid: 0,
            problem: null,
          },
        },
      },
    );
  });
});

Deno.test("a disabled stem's events are acknowledged and counted, and nothing of them is published", async () => {
  await withRole(async ({ stack, aws, role }) => {
    const off = unique("off");
    const on = unique("on");
    await aws.dynamo.send(
      new PutItemCommand({
        TableName: stack.aws.stemsTable,
        Item: { stem: { S: off }, enabled: { BOOL: false } },
      }),
    );
    const queue = await subscribedQueue(aws, stack.aws.topicArn, unique("q"), {
      stem: [off, on],
    });
    const disabled = Array.from(
      { length: 5 },
      (_, i) => makeEvent(`${off}:g${i % 2}`, i),
    );
    const enabled = makeEvent(`${on}:g`, 1);
    await sendEvents(role.files, [...disabled, enabled]);
    const messages = await drainQueue(aws.sqs, queue, {
      expect: 1,
      quietMs: 1500,
    });
    assert.deepEqual(messages.map((m) => m.dedupId), [enabled.id]);
    assert.equal(await role.counter("wgsync_event_disabled_total"), 5);
  });
});

Deno.test("a stem's topicArn override is used instead of the default topic", async () => {
  await withRole(async ({ stack, aws, role }) => {
    const stem = unique("override");
    const topicArn = await createFifoTopic(aws.sns, unique("other-topic"));
    await aws.dynamo.send(
      new PutItemCommand({
        TableName: stack.aws.stemsTable,
        Item: {
          stem: { S: stem },
          enabled: { BOOL: true },
          topicArn: { S: topicArn },
        },
      }),
    );
    const [onOverride, onDefault] = await Promise.all([
      subscribedQueue(aws, topicArn, unique("override-q")),
      subscribedQueue(aws, stack.aws.topicArn, unique("default-q"), {
        stem: [stem],
      }),
    ]);
    const events = [1, 2, 3].map((seq) => makeEvent(`${stem}:g`, seq));
    await sendEvents(role.files, events);
    const overridden = await drainQueue(aws.sqs, onOverride, { expect: 3 });
    assert.deepEqual(
      overridden.map((m) => [m.dedupId, m.groupId]),
      events.map((e) => [e.id, e.stem]),
    );
    assert.deepEqual(
      await drainQueue(aws.sqs, onDefault, { quietMs: 1500 }),
      [],
    );
  });
});

Deno.test("a burst of 1,000 events of one new stem costs one DynamoDB read and one conditional put", async () => {
  const stack = await getStack();
  const relay = AwsRelay.start(stack.aws.endpoint);
  try {
    await withRole(async ({ stack, aws, role }) => {
      const stem = unique("burst");
      const events = Array.from(
        { length: 1000 },
        (_, i) => makeEvent(`${stem}:g${i % 50}`, Math.floor(i / 50)),
      );
      // One stem is one FIFO group: its calls go one after the other, each
      // slower the fuller moto's queues are; nobody reads wgsync-web's here.
      const stopDraining = keepDrained(aws.sqs, stack.aws.webQueueUrl);
      try {
        await sendEvents(role.files, events, { timeoutMs: 180_000 });
      } finally {
        await stopDraining();
      }
      assert.equal(
        relay.count("DynamoDB_20120810.GetItem"),
        1,
        JSON.stringify(relay.counts),
      );
      assert.equal(
        relay.count("DynamoDB_20120810.PutItem"),
        1,
        JSON.stringify(relay.counts),
      );
      assert.equal(
        await role.counter("wgsync_event_stem_cache_total", 'result="miss"'),
        1,
      );
      assert.equal(await role.counter("wgsync_event_stems_created_total"), 1);
      const item = await aws.dynamo.send(
        new GetItemCommand({
          TableName: stack.aws.stemsTable,
          Key: { stem: { S: stem } },
        }),
      );
      assert.equal(item.Item?.enabled?.BOOL, true);
      assert.equal(item.Item?.topicArn, undefined);
      assert.match(
        item.Item?.discoveredFrom?.S ?? "",
        new RegExp(`^${stem}:g[0-9]+$`),
      );
      assert.ok(!Number.isNaN(Date.parse(item.Item?.discoveredAt?.S ?? "")));
      // Every event was published, in batches: fewer SNS calls than events.
      assert.equal(await role.counter("wgsync_event_published_total"), 1000);
      const calls = relay.count("PublishBatch") + relay.count("Publish");
      assert.ok(calls < 1000, JSON.stringify(relay.counts));
    }, { endpoint: relay.endpoint });
  } finally {
    await relay.close();
  }
});

Deno.test("an invalid event is acknowledged, logged and not published; the good events around it are", async () => {
  await withRole(async ({ stack, aws, role }) => {
    const stem = unique("mixed");
    const queue = await subscribedQueue(aws, stack.aws.topicArn, unique("q"), {
      stem: [stem],
    });
    const good1 = makeEvent(`${stem}:g`, 1);
    const bad = { ...makeEvent(`${stem}:g`, 2), stem: "elsewhere" };
    const good2 = makeEvent(`${stem}:g`, 3);
    await sendEvents(role.files, [good1, bad, good2]);
    const messages = await drainQueue(aws.sqs, queue, { expect: 2 });
    assert.deepEqual(messages.map((m) => m.dedupId), [good1.id, good2.id]);
    assert.match(
      role.stderr,
      new RegExp(
        `Cannot publish the event as it does not follow schema v1: event id is "${bad.id}", workgroup is "${stem}:g", expected "stem" "${stem}", found "elsewhere"`,
      ),
    );
    assert.equal(
      await role.counter("wgsync_event_failed_total", 'reason="invalid_event"'),
      1,
    );
  });
});

Deno.test("a peer with the wrong key is refused and logged, and nothing it sends is received", async () => {
  await withRole(async ({ role }) => {
    const { path: wrongKey } = await writeKey(role.files.dir, "wrong.key");
    const client = await ChannelClient.open({
      address: { transport: "unix", path: role.files.socket },
      keyFile: wrongKey,
      connections: 1,
      reconnect: { minDelay: 100, maxDelay: 200 },
    });
    try {
      const event = makeEvent(`${unique("intruder")}:g`, 1);
      await client.submit({
        id: event.id,
        workgroup: event.workgroup,
        body: JSON.stringify(event),
      });
      await until(
        () => /Refused channel connection #1/.test(role.stderr),
        "the refusal in the role's log",
      );
      assert.equal(client.connected, 0);
      assert.equal(await role.counter("wgsync_event_received_total"), 0);
    } finally {
      await client.close();
    }
  });
});
