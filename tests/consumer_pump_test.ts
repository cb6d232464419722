// Outbox pump tests: a real store (node:sqlite) and a real channel (client and
// server over a Unix socket in a temporary directory).

import assert from "node:assert/strict";
import {
  ChannelClient,
  ChannelServer,
  type IncomingEvent,
} from "../lib/channel/mod.ts";
import {
  OutboxPump,
  type OutboxPumpOptions,
  type Store,
  WorkgroupApplier,
} from "../lib/wgsync_ldap/mod.ts";
import { type WorkgroupEvent } from "../lib/events/mod.ts";
import {
  cookie,
  group,
  outbox,
  person,
  reconstruct,
  refreshEnd,
  withStore,
} from "./helpers/consumer.ts";
import { until, within, writeKey } from "./helpers/channel.ts";

async function wire(
  store: Store,
  dir: string,
  handler: (event: IncomingEvent) => Promise<void>,
) {
  const key = await writeKey(dir);
  const path = `${dir}/event.sock`;
  const server = await ChannelServer.listen({
    address: { transport: "unix", path },
    keyFile: key.path,
    handler,
  });
  const connect = async (options: OutboxPumpOptions = {}) => {
    // deno-lint-ignore prefer-const
    let pump: OutboxPump;
    const client = await ChannelClient.open({
      address: { transport: "unix", path },
      keyFile: key.path,
      connections: 2,
      onAck: (id) => pump.ack(id),
    });
    pump = new OutboxPump(store, client, { ackDelayMs: 5, ...options });
    const abort = new AbortController();
    const running = pump.run(abort.signal);
    return {
      pump,
      client,
      stop: async () => {
        abort.abort();
        await running;
        await client.close();
      },
    };
  };
  return { server, connect };
}

Deno.test("the pump sends committed events in outbox order and deletes a row only after its acknowledgement", async () => {
  await withStore(async (store, dir) => {
    let release!: () => void;
    let gate = new Promise<void>((resolve) => release = resolve);
    const received: WorkgroupEvent[] = [];
    const { server, connect } = await wire(store, dir, async (event) => {
      await gate;
      received.push(event.body as WorkgroupEvent);
    });
    const { stop } = await connect();
    try {
      const applier = new WorkgroupApplier(store);
      applier.beginSearch();
      applier.apply(group("add", 1, "s:a", [person("ann")], 1));
      applier.apply(group("add", 2, "s:b", [person("bob")], 2));
      // Staged, not committed: nothing is sent yet.
      await new Promise((resolve) => setTimeout(resolve, 30));
      assert.equal(received.length, 0);
      applier.apply(refreshEnd("present", 2));
      applier.apply(
        group("modify", 1, "s:a", [person("ann"), person("cat")], 3, {
          cookie: cookie(3),
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 30));
      assert.equal(received.length, 0, "the handler holds them");
      assert.equal(
        store.outboxDepth(),
        3,
        "no row is deleted before its acknowledgement",
      );
      release();
      await until(() => store.outboxDepth() === 0, "an empty outbox");
      const ids = outbox(store);
      assert.equal(ids.length, 0);
      assert.deepEqual(
        received.filter((e) => e.workgroup === "s:a").map((e) => e.type),
        [
          "workgroup.created",
          "member.added",
        ],
      );
      assert.equal(received.length, 3);
      gate = Promise.resolve();
    } finally {
      await stop();
      await server.close();
    }
  });
});

Deno.test("a held pump sends nothing of what a refresh commits until released, then everything in order", async () => {
  await withStore(async (store, dir) => {
    const received: WorkgroupEvent[] = [];
    const { server, connect } = await wire(store, dir, (event) => {
      received.push(event.body as WorkgroupEvent);
      return Promise.resolve();
    });
    let held = true;
    const link = await connect({ hold: () => held, holdPollMs: 5 });
    try {
      // One entry per transaction: each is committed as it is applied.
      const applier = new WorkgroupApplier(store, { refreshBatchSize: 1 });
      applier.beginSearch();
      for (let i = 1; i <= 3; i++) {
        applier.apply(group("add", i, `s:g${i}`, [person(`u${i}`)], i));
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(received.length, 0, "nothing sent while held");
      assert.equal(store.outboxDepth(), 3, "the events wait in the outbox");
      held = false;
      await until(() => store.outboxDepth() === 0, "an empty outbox");
      assert.deepEqual(
        received.map((e) => `${e.type} ${e.workgroup}`),
        [
          "workgroup.created s:g1",
          "workgroup.created s:g2",
          "workgroup.created s:g3",
        ],
      );
      applier.apply(refreshEnd("present", 3));
    } finally {
      await link.stop();
      await server.close();
    }
  });
});

Deno.test("events not acknowledged before a restart are sent again with the same ids", async () => {
  await withStore(async (store, dir) => {
    let block = true;
    const received: string[] = [];
    const { server, connect } = await wire(store, dir, async (event) => {
      received.push(event.id);
      while (block) await new Promise((resolve) => setTimeout(resolve, 5));
    });
    try {
      const applier = new WorkgroupApplier(store);
      applier.beginSearch();
      for (let i = 1; i <= 5; i++) {
        applier.apply(group("add", i, `s:g${i}`, [person(`u${i}`)], i));
      }
      applier.apply(refreshEnd("present", 5));
      const ids = outbox(store).map((e) => e.id);
      let first = await connect();
      await until(() => received.length === 5, "five events at the handler");
      // The consumer stops before any acknowledgement.
      await first.stop();
      assert.equal(store.outboxDepth(), 5);
      block = false;
      first = await connect();
      await until(() => store.outboxDepth() === 0, "an empty outbox");
      await first.stop();
      assert.deepEqual(
        received.slice(5).sort(),
        [...ids].sort(),
        "the same ids again",
      );
    } finally {
      block = false;
      await server.close();
    }
  });
});

Deno.test("a workgroup deleted and re-created under the same name within one refresh ends up present downstream", async () => {
  await withStore(async (store, dir) => {
    const received: WorkgroupEvent[] = [];
    const { server, connect } = await wire(store, dir, (event) => {
      received.push(event.body as WorkgroupEvent);
      return Promise.resolve();
    });
    const link = await connect();
    try {
      const applier = new WorkgroupApplier(store, { guard: { maxShare: 1 } });
      applier.beginSearch();
      applier.apply(group("add", 1, "s:same", [person("old")], 1));
      applier.apply(group("add", 2, "s:other", [person("x")], 2));
      applier.apply(refreshEnd("present", 2));
      // While the consumer was away: entry 1 deleted, entry 3 created with the same name.
      applier.beginSearch();
      applier.apply(group("present", 2, "s:other", [], 0));
      applier.apply(group("add", 3, "s:same", [person("new")], 4));
      const done = applier.apply(refreshEnd("present", 4));
      assert.equal(done.kind === "applied" && done.snapshots, 1);
      await until(() => store.outboxDepth() === 0, "an empty outbox");
      await within(link.client.drained(), "all acknowledgements");
      assert.deepEqual(
        received.filter((e) => e.workgroup === "s:same").map((e) => e.type),
        [
          "workgroup.created",
          "workgroup.created",
          "workgroup.deleted",
          "workgroup.snapshot",
        ],
      );
      assert.deepEqual(
        reconstruct(received).get("s:same"),
        new Set([person("new")]),
      );
    } finally {
      await link.stop();
      await server.close();
    }
  });
});
