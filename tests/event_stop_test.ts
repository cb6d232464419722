/**
 * Stopping wgsync-event while AWS hangs (a relay in front of moto that stops
 * answering): SIGTERM ends it with exit 0 within its stop timeout, nothing
 * it could not publish is acknowledged, and the channel client re-sends
 * those events to the next wgsync-event, which publishes them.
 */

import assert from "node:assert/strict";
import { ChannelClient } from "../lib/channel/mod.ts";
import { AwsRelay } from "./helpers/aws_relay.ts";
import {
  awsClients,
  drainQueue,
  EventProcess,
  makeEvent,
  subscribedQueue,
  until,
  withTempDir,
  writeEventConfig,
} from "./helpers/event_role.ts";
import { getStack } from "./helpers/stack.ts";

Deno.test("SIGTERM while AWS hangs: exit 0, nothing unpublished acknowledged, the next instance publishes what was given back", async () => {
  const stack = await getStack();
  const aws = awsClients(stack);
  const relay = AwsRelay.start(stack.aws.endpoint);
  const roles: EventProcess[] = [];
  let client: ChannelClient | undefined;
  try {
    await withTempDir(async (dir) => {
      const stem = `stop-${crypto.randomUUID().slice(0, 8)}`;
      const queue = await subscribedQueue(aws, stack.aws.topicArn, stem, {
        stem: [stem],
      });
      const files = await writeEventConfig(stack, dir, {
        endpoint: relay.endpoint,
        stopTimeoutSeconds: 10,
      });
      roles.push(EventProcess.start(files, stack));
      await roles[0].waitReady();
      const acked = new Set<string>();
      client = await ChannelClient.open({
        address: { transport: "unix", path: files.socket },
        keyFile: files.keyFile,
        connections: 2,
        reconnect: { minDelay: 100, maxDelay: 500 },
        onAck: (id) => acked.add(id),
      });
      const submit = async (events: ReturnType<typeof makeEvent>[]) => {
        for (const event of events) {
          await client!.submit({
            id: event.id,
            workgroup: event.workgroup,
            body: JSON.stringify(event),
          });
        }
      };
      const before = [1, 2, 3].map((seq) => makeEvent(`${stem}:g${seq}`, 1));
      await submit(before);
      await until(() => before.every((e) => acked.has(e.id)), "3 acks");

      relay.hold();
      const held = [1, 2, 3].map((seq) => makeEvent(`${stem}:g${seq}`, 2));
      await submit(held);
      await until(
        () => roles[0].stderr.length > 0 && client!.inFlight === 3,
        "3 events in flight",
      );
      assert.equal(await roles[0].stop(), 0, roles[0].stderr);
      assert.deepEqual(held.filter((e) => acked.has(e.id)), []);
      assert.match(roles[0].notify.messages.join("\n"), /STOPPING=1/);

      relay.release();
      roles.push(EventProcess.start(files, stack));
      await roles[1].waitReady();
      await until(
        () => held.every((e) => acked.has(e.id)),
        "the given-back events acknowledged by the next instance",
        60_000,
      );
      const messages = await drainQueue(aws.sqs, queue, { expect: 6 });
      assert.deepEqual(
        new Set(messages.map((m) => m.dedupId)),
        new Set([...before, ...held].map((e) => e.id)),
      );
      assert.equal(await roles[1].stop(), 0, roles[1].stderr);
    });
  } finally {
    await client?.close();
    relay.release();
    for (const role of roles) await role.stop();
    await relay.close();
    aws.destroy();
  }
});
