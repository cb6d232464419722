/**
 * wgsync-remctl receives up to 10 messages a call (the stack's moto, like
 * AWS, hands out several messages of one FIFO group in one call, in order):
 * on the real stack (moto, KDC, k5start, remctld and the demo backend) a
 * group's messages still run strictly in order while several groups run at
 * once, a failed command holds back the rest of its batch, a SIGTERM in the
 * middle of a batch releases the messages not started at once for the next
 * instance, a message waiting for its turn stays invisible past the
 * visibility timeout (the heartbeat holds it from its receipt), and a
 * SIGKILL loses nothing (delivered once the visibility
 * lapsed, in order). Each test publishes before the role starts, so that
 * the role's receives find whole batches waiting.
 */
import assert from "node:assert/strict";
import type { WorkgroupEvent } from "../lib/events/mod.ts";
import { RoleProcess, withTempDir } from "./helpers/ldap_role.ts";
import {
  awsClients,
  callsOf,
  createQueue,
  type DemoCall,
  drain,
  eventually,
  publishEvents,
  queueCounts,
  testEvent,
  type TestQueue,
  waitForCalls,
  writeRemctlConfig,
} from "./helpers/remctl_role.ts";
import { getStack, type StackInfo } from "./helpers/stack.ts";

/** The event id the demo backend received (`{id}` in DEMO_ARGUMENTS). */
const eventId = (call: DemoCall) => call.argv[8];

/** Each id's first run, in the order of the calls. */
function firstRuns(calls: readonly DemoCall[]): string[] {
  return [...new Set(calls.map(eventId))];
}

/** `count` events of one FIFO group (`group`), over two workgroups. */
function groupEvents(
  queue: TestQueue,
  group: string,
  count: number,
): WorkgroupEvent[] {
  return Array.from(
    { length: count },
    (_, seq) =>
      testEvent(`${queue.stem}:${group}-${seq % 2}`, "member.added", {
        seq,
        member: { dn: `uid=m${seq},dc=x`, id: `m${seq}`, uid: `m${seq}` },
      }),
  );
}

/** The FIFO group the tests publish an event in: its workgroup without the -0/-1. */
const groupOf = (event: WorkgroupEvent) => event.workgroup.slice(0, -2);

/** A free loopback address for the role's /metrics. */
function metricsAddress(): string {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const address = `127.0.0.1:${listener.addr.port}`;
  listener.close();
  return address;
}

/** One sample of the role's /metrics (NaN while it does not answer). */
async function metric(address: string, name: string): Promise<number> {
  try {
    const text = await (await fetch(`http://${address}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`${name}{`));
    return Number(line?.slice(line.lastIndexOf(" ") + 1));
  } catch {
    return NaN;
  }
}

async function withSlowBackend(
  stack: StackInfo,
  ms: number,
  fn: () => Promise<void>,
): Promise<void> {
  await Deno.writeTextFile(stack.remctl.delayFile, String(ms));
  try {
    await fn();
  } finally {
    await Deno.remove(stack.remctl.delayFile).catch(() => {});
  }
}

Deno.test("batches of several messages of one FIFO group run in order, several groups at once", async () => {
  const stack = await getStack();
  const clients = awsClients(stack);
  const queue = await createQueue(stack, clients);
  const groups = ["g0", "g1", "g2", "g3"].map((g) => groupEvents(queue, g, 20));
  // Interleaved, as wgsync-event publishes several stems.
  const events = groups[0].flatMap((_, i) => groups.map((g) => g[i]));
  await publishEvents(stack, clients.sns, events, { group: groupOf });
  await withTempDir(async (dir) => {
    const metrics = metricsAddress();
    const files = await writeRemctlConfig(stack, dir, [queue], {
      metricsListen: metrics,
    });
    const role = RoleProcess.start(stack, files, { role: "remctl" });
    try {
      await role.waitForLog(/Ready: 1 targets/);
      await waitForCalls(stack, queue.stem, events.length, 120_000);
      const calls = await callsOf(stack, queue.stem);
      for (const group of groups) {
        const ids = new Set(group.map((e) => e.id));
        assert.deepEqual(
          firstRuns(calls).filter((id) => ids.has(id)),
          group.map((e) => e.id),
        );
      }
      const receives = await metric(
        metrics,
        "wgsync_remctl_received_messages_count",
      );
      const received = await metric(
        metrics,
        "wgsync_remctl_received_messages_sum",
      );
      assert.ok(
        received >= events.length && receives < events.length / 2,
        `${received} messages in ${receives} receives`,
      );
    } finally {
      assert.equal(await role.stop(), 0, role.stderr);
    }
  });
  assert.deepEqual(await drain(clients.sqs, queue.dlqUrl), []);
});

Deno.test("a failed command holds back the rest of its batch: released, they run after it succeeded, in order", async () => {
  const stack = await getStack();
  const clients = awsClients(stack);
  const queue = await createQueue(stack, clients);
  const events = groupEvents(queue, "held", 5);
  await publishEvents(stack, clients.sns, events, { group: groupOf });
  await Deno.writeTextFile(stack.remctl.exitCodeFile, "3");
  try {
    await withTempDir(async (dir) => {
      const files = await writeRemctlConfig(stack, dir, [queue], {
        commandAttempts: 5,
      });
      const role = RoleProcess.start(stack, files, { role: "remctl" });
      try {
        await waitForCalls(stack, queue.stem, 1);
        await Deno.remove(stack.remctl.exitCodeFile);
        await eventually(
          async () =>
            (await callsOf(stack, queue.stem)).filter((c) => c.exitCode === 0)
              .length === events.length,
          "every event run with exit 0",
        );
      } finally {
        assert.equal(await role.stop(), 0, role.stderr);
      }
    });
  } finally {
    await Deno.remove(stack.remctl.exitCodeFile).catch(() => {});
  }
  const calls = await callsOf(stack, queue.stem);
  const firstSuccess = calls.findIndex((c) => c.exitCode === 0);
  assert.ok(firstSuccess >= 1, "the first call failed");
  assert.deepEqual(
    calls.slice(0, firstSuccess + 1).map(eventId),
    Array(firstSuccess + 1).fill(events[0].id),
  );
  assert.deepEqual(
    calls.filter((c) => c.exitCode === 0).map(eventId),
    events.map((e) => e.id),
  );
  assert.deepEqual(await drain(clients.sqs, queue.dlqUrl), []);
});

Deno.test("SIGTERM in the middle of a batch releases the messages not started at once; the next instance runs them in order", async () => {
  const stack = await getStack();
  const clients = awsClients(stack);
  // A visibility far longer than the test: only a release makes them visible.
  const queue = await createQueue(stack, clients, { visibilitySeconds: 600 });
  const events = groupEvents(queue, "stopped", 10);
  await publishEvents(stack, clients.sns, events, { group: groupOf });
  await withTempDir(async (dir) => {
    const metrics = metricsAddress();
    const files = await writeRemctlConfig(stack, dir, [queue], {
      metricsListen: metrics,
    });
    await withSlowBackend(stack, 1500, async () => {
      const role = RoleProcess.start(stack, files, { role: "remctl" });
      try {
        await eventually(
          async () =>
            await metric(metrics, "wgsync_remctl_in_flight") === events.length,
          "the whole batch in the role's hand",
        );
      } finally {
        // The first command runs (1.5 s); it is given the stop grace.
        assert.equal(await role.stop(), 0, role.stderr);
      }
    });
    assert.deepEqual((await callsOf(stack, queue.stem)).map(eventId), [
      events[0].id,
    ]);
    assert.deepEqual(await queueCounts(clients.sqs, queue.url), [
      events.length - 1,
      0,
    ]);
    const next = RoleProcess.start(stack, files, { role: "remctl" });
    try {
      await waitForCalls(stack, queue.stem, events.length);
    } finally {
      assert.equal(await next.stop(), 0, next.stderr);
    }
  });
  assert.deepEqual(
    (await callsOf(stack, queue.stem)).map(eventId),
    events.map((e) => e.id),
  );
  assert.deepEqual(await queueCounts(clients.sqs, queue.url), [0, 0]);
});

Deno.test("SIGKILL in the middle of a batch loses nothing: delivered in order once the visibility lapsed", async () => {
  const stack = await getStack();
  const clients = awsClients(stack);
  const queue = await createQueue(stack, clients, { visibilitySeconds: 3 });
  const events = groupEvents(queue, "killed", 10);
  await publishEvents(stack, clients.sns, events, { group: groupOf });
  await withTempDir(async (dir) => {
    const metrics = metricsAddress();
    const files = await writeRemctlConfig(stack, dir, [queue], {
      metricsListen: metrics,
    });
    await withSlowBackend(stack, 1500, async () => {
      const role = RoleProcess.start(stack, files, { role: "remctl" });
      try {
        await eventually(
          async () =>
            await metric(metrics, "wgsync_remctl_in_flight") === events.length,
          "the whole batch in the role's hand",
        );
      } finally {
        await role.kill();
      }
    });
    const next = RoleProcess.start(stack, files, { role: "remctl" });
    try {
      await eventually(
        async () =>
          firstRuns(await callsOf(stack, queue.stem)).length === events.length,
        "every event run",
        60_000,
      );
    } finally {
      assert.equal(await next.stop(), 0, next.stderr);
    }
  });
  // The command running at the kill may have run twice (at least once).
  assert.deepEqual(
    firstRuns(await callsOf(stack, queue.stem)),
    events.map((e) => e.id),
  );
  assert.deepEqual(await drain(clients.sqs, queue.dlqUrl), []);
  assert.deepEqual(await queueCounts(clients.sqs, queue.url), [0, 0]);
});

Deno.test("a message waiting for its turn is kept invisible from its receipt, past the queue's visibility timeout", async () => {
  const stack = await getStack();
  const clients = awsClients(stack);
  const queue = await createQueue(stack, clients, { visibilitySeconds: 3 });
  const events = groupEvents(queue, "waiting", 8);
  await publishEvents(stack, clients.sns, events, { group: groupOf });
  await withTempDir(async (dir) => {
    const files = await writeRemctlConfig(stack, dir, [queue]);
    await withSlowBackend(stack, 1500, async () => {
      const role = RoleProcess.start(stack, files, { role: "remctl" });
      try {
        // Three commands of 1.5 s ran: the messages received with them, still
        // waiting, are past the 3 s they were received with.
        await waitForCalls(stack, queue.stem, 3);
        const [visible, inFlight] = await queueCounts(clients.sqs, queue.url);
        assert.deepEqual([visible, inFlight > 0], [0, true]);
        await waitForCalls(stack, queue.stem, events.length, 60_000);
        assert.doesNotMatch(role.stderr, /\(receive [2-9]\d*\)/);
      } finally {
        assert.equal(await role.stop(), 0, role.stderr);
      }
    });
  });
  assert.deepEqual(
    (await callsOf(stack, queue.stem)).map(eventId),
    events.map((e) => e.id),
  );
});
