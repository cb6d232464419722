// Delivery tests: ordering, acknowledgement, window and re-sending, with both
// ends of the channel running for real over a Unix socket (and once over TCP
// on 127.0.0.1) in a temporary directory.

import assert from "node:assert/strict";
import {
  AddressError,
  ChannelClient,
  ChannelServer,
  type EventContext,
  type EventHandler,
  type IncomingEvent,
  workgroupHash,
} from "../lib/channel/mod.ts";
import { captureLogs } from "./helpers/consumer.ts";
import {
  event,
  seqOf,
  until,
  withDir,
  within,
  writeKey,
} from "./helpers/channel.ts";

async function setup(
  dir: string,
  handler: EventHandler,
  options: {
    connections?: number;
    window?: number;
    onAck?: (id: string) => void;
    orderKey?: (event: IncomingEvent) => string;
  } = {},
) {
  const key = await writeKey(dir);
  const path = `${dir}/event.sock`;
  const { orderKey, ...clientOptions } = options;
  const server = await ChannelServer.listen({
    address: { transport: "unix", path },
    keyFile: key.path,
    handler,
    orderKey,
  });
  const client = await ChannelClient.open({
    address: { transport: "unix", path },
    keyFile: key.path,
    reconnect: { minDelay: 10, maxDelay: 50 },
    ...clientOptions,
  });
  return { key, path, server, client };
}

Deno.test("events of one stem stay on one connection, each workgroup's in order, across 4 connections", async () => {
  await withDir(async (dir) => {
    const seen: { event: IncomingEvent; context: EventContext }[] = [];
    const { server, client } = await setup(dir, async (event, context) => {
      // Random handler delays: later events of other workgroups overtake.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
      seen.push({ event, context });
    }, { connections: 4, window: 16 });
    try {
      // 40 workgroups in 8 stems.
      const workgroups = Array.from(
        { length: 40 },
        (_, i) => `stem${i % 8}:group-${i}`,
      );
      for (let seq = 0; seq < 25; seq++) {
        for (const workgroup of workgroups) {
          await client.submit(event(workgroup, seq));
        }
      }
      await within(client.drained(), "all acknowledgements");
      assert.equal(seen.length, 1000);
      const connections = new Set<number>();
      for (const workgroup of workgroups) {
        const mine = seen.filter((s) => s.event.workgroup === workgroup);
        assert.deepEqual(
          mine.map((s) => seqOf(s.event)),
          Array.from({ length: 25 }, (_, i) => i),
          workgroup,
        );
      }
      for (let stem = 0; stem < 8; stem++) {
        const used = new Set(
          seen.filter((s) => s.event.workgroup.startsWith(`stem${stem}:`))
            .map((s) => s.context.connection),
        );
        assert.equal(used.size, 1, `stem${stem} used connections ${[...used]}`);
        connections.add([...used][0]);
      }
      assert.equal(
        connections.size,
        4,
        "the stems spread over all connections",
      );
      // Different workgroups interleave (they are handled concurrently).
      const firstThirty = seen.slice(0, 30).map((s) => s.event.workgroup);
      assert.ok(new Set(firstThirty).size > 1);
      assert.equal(
        client.connectionOf("stem7:group-7"),
        workgroupHash("stem7") % 4,
      );
    } finally {
      await client.close();
      await server.close();
    }
  });
});

for (const byStem of [true, false]) {
  Deno.test(
    `a rename ${
      byStem
        ? "waits (order key: the stem)"
        : "does not wait (order key: the workgroup, the default)"
    } for the earlier events of its previous name${
      byStem ? ", and that name's later events wait for it" : ""
    }`,
    async () => {
      await withDir(async (dir) => {
        let release!: () => void;
        const gate = new Promise<void>((resolve) => release = resolve);
        const started: string[] = [];
        const handled: string[] = [];
        const { client, server } = await setup(dir, async (event) => {
          started.push(event.id);
          if (event.id === "old#0") await gate;
          handled.push(event.id);
        }, {
          connections: 4,
          orderKey: byStem
            ? (event) => event.workgroup.slice(0, event.workgroup.indexOf(":"))
            : undefined,
        });
        try {
          const frame = (id: string, workgroup: string, previous?: string) => ({
            id,
            workgroup,
            body: JSON.stringify({ id, workgroup, previous }),
          });
          // A change of s:old still pending, the rename s:old -> s:new, a new
          // entry re-using the name s:old; another stem's event.
          await client.submit(frame("old#0", "s:old"));
          await client.submit(frame("rename", "s:new", "s:old"));
          await client.submit(frame("old#1", "s:old"));
          await client.submit(frame("other", "t:other"));
          await until(
            () => handled.includes("other"),
            "the other stem's event",
          );
          await new Promise((resolve) => setTimeout(resolve, 50));
          assert.deepEqual(
            started.filter((id) => id !== "other"),
            byStem ? ["old#0"] : ["old#0", "rename"],
          );
          release();
          await within(client.drained(), "all acknowledgements");
          assert.deepEqual(
            handled.filter((id) => id !== "other"),
            byStem
              ? ["old#0", "rename", "old#1"]
              : ["rename", "old#0", "old#1"],
          );
        } finally {
          await client.close();
          await server.close();
        }
      });
    },
  );
}

Deno.test("an event is acknowledged only after the handler resolved", async () => {
  await withDir(async (dir) => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    let handled = false;
    const acked: string[] = [];
    const { server, client } = await setup(dir, async () => {
      await gate;
      handled = true;
    }, { onAck: (id) => acked.push(id) });
    try {
      await client.submit(event("s:g", 1));
      await until(() => server.stats.authenticated > 0, "the connection");
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(acked, []);
      assert.equal(client.inFlight, 1);
      release();
      await within(client.drained(), "all acknowledgements");
      assert.equal(handled, true);
      assert.deepEqual(acked, ["s:g#1"]);
    } finally {
      await client.close();
      await server.close();
    }
  });
});

Deno.test("the in-flight window bounds events sent but not acknowledged", async () => {
  await withDir(async (dir) => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    const started: string[] = [];
    const { server, client } = await setup(dir, async (event) => {
      started.push(event.id);
      await gate;
    }, { connections: 1, window: 8 });
    try {
      // 20 distinct workgroups: the server would handle all at once if sent.
      let submitted = 0;
      const submitting = (async () => {
        for (let i = 0; i < 20; i++) {
          await client.submit(event(`s:g${i}`, 0));
          submitted++;
        }
      })();
      await until(() => started.length === 8, "eight events at the handler");
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(started.length, 8);
      assert.equal(submitted, 8);
      assert.equal(client.inFlight, 8);
      release();
      await submitting;
      await within(client.drained(), "all acknowledgements");
      assert.equal(started.length, 20);
    } finally {
      await client.close();
      await server.close();
    }
  });
});

Deno.test("after a handler failure the connection is closed and unacknowledged events are re-sent with the same ids, in order", async () => {
  await captureLogs(async () => {
    await withDir(async (dir) => {
      const attempts = new Map<string, number>();
      const delivered: string[] = [];
      const { server, client } = await setup(dir, (event) => {
        const n = (attempts.get(event.id) ?? 0) + 1;
        attempts.set(event.id, n);
        if (event.id === "s:g#5" && n === 1) {
          return Promise.reject(new Error("downstream is briefly unavailable"));
        }
        delivered.push(event.id);
        return Promise.resolve();
      }, { connections: 1 });
      try {
        for (let i = 0; i < 20; i++) await client.submit(event("s:g", i));
        await within(client.drained(), "all acknowledgements");
        const expected = Array.from({ length: 20 }, (_, i) => `s:g#${i}`);
        // Every id delivered, in order, none skipped.
        assert.deepEqual([...new Set(delivered)], expected);
        assert.equal(attempts.get("s:g#5"), 2);
        assert.equal(server.stats.closedOnError, 1);
        assert.ok(server.stats.authenticated >= 2, "the client reconnected");
      } finally {
        await client.close();
        await server.close();
      }
    });
  });
});

Deno.test("events in flight when the server restarts are re-sent to the new server with the same ids", async () => {
  await captureLogs(async () => {
    await withDir(async (dir) => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => release = resolve);
      const first: string[] = [];
      const { key, path, server, client } = await setup(dir, async (event) => {
        first.push(event.id);
        await gate;
      }, { connections: 2, window: 64 });
      const second: string[] = [];
      let restarted: ChannelServer | undefined;
      try {
        for (let i = 0; i < 10; i++) {
          await client.submit(event("s:a", i));
          await client.submit(event("s:b", i));
        }
        await until(
          () => first.length === 2,
          "the first events at the handler",
        );
        assert.equal(client.inFlight, 20);
        const closing = server.close();
        release();
        await closing;
        restarted = await ChannelServer.listen({
          address: { transport: "unix", path },
          keyFile: key.path,
          handler: (event) => {
            second.push(event.id);
            return Promise.resolve();
          },
        });
        await within(client.drained(), "all acknowledgements");
        const ids = (w: string) =>
          Array.from({ length: 10 }, (_, i) => `${w}#${i}`);
        assert.deepEqual(
          second.filter((id) => id.startsWith("s:a")),
          ids("s:a"),
        );
        assert.deepEqual(
          second.filter((id) => id.startsWith("s:b")),
          ids("s:b"),
        );
      } finally {
        await client.close();
        await server.close();
        await restarted?.close();
      }
    });
  });
});

Deno.test("TCP on the loopback interface works; other addresses are refused", async () => {
  await withDir(async (dir) => {
    const key = await writeKey(dir);
    const received: string[] = [];
    const server = await ChannelServer.listen({
      address: { transport: "tcp", hostname: "127.0.0.1", port: 0 },
      keyFile: key.path,
      handler: (event) => {
        received.push(event.id);
        return Promise.resolve();
      },
    });
    const client = await ChannelClient.open({
      address: server.address,
      keyFile: key.path,
      connections: 2,
    });
    try {
      assert.ok(server.address.transport === "tcp" && server.address.port > 0);
      await client.submit(event("s:t", 1));
      await within(client.drained(), "all acknowledgements");
      assert.deepEqual(received, ["s:t#1"]);
    } finally {
      await client.close();
      await server.close();
    }
    await assert.rejects(
      ChannelServer.listen({
        address: { transport: "tcp", hostname: "0.0.0.0", port: 0 },
        keyFile: key.path,
        handler: () => Promise.resolve(),
      }),
      (error) =>
        error instanceof AddressError &&
        /hostname is "0.0.0.0", expected 127.0.0.0\/8 or ::1/.test(
          error.message,
        ),
    );
    await assert.rejects(
      ChannelClient.open({
        address: { transport: "unix", path: `${dir}/x.sock` },
        keyFile: key.path,
        window: 0,
      }),
      {
        name: "RangeError",
        message:
          "Cannot open the channel client as window is invalid: window is 0, expected a positive integer",
      },
    );
  });
});
