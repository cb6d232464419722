// The channel server's per-key window (perKeyInFlight, orderKey): several
// events of one order key at the handler at once, handed over in arrival
// order, acknowledged in that order whatever order the handler resolves
// them in, while another key goes on; both ends running for real over a
// Unix socket.

import assert from "node:assert/strict";
import { ChannelClient, ChannelServer } from "../lib/channel/mod.ts";
import {
  event,
  seqOf,
  until,
  withDir,
  within,
  writeKey,
} from "./helpers/channel.ts";

Deno.test("with perKeyInFlight 4, four events of one workgroup are at the handler at once, in order, and acknowledged in order", async () => {
  await withDir(async (dir) => {
    const key = await writeKey(dir);
    const path = `${dir}/event.sock`;
    const started: number[] = [];
    const release = new Map<number, () => void>();
    const server = await ChannelServer.listen({
      address: { transport: "unix", path },
      keyFile: key.path,
      perKeyInFlight: 4,
      handler: async (incoming) => {
        const seq = seqOf(incoming);
        started.push(seq);
        await new Promise<void>((resolve) => release.set(seq, resolve));
      },
    });
    const acked: number[] = [];
    const client = await ChannelClient.open({
      address: { transport: "unix", path },
      keyFile: key.path,
      connections: 1,
      reconnect: { minDelay: 10, maxDelay: 50 },
      onAck: (id) => acked.push(Number(id.slice(id.indexOf("#") + 1))),
    });
    try {
      for (let seq = 0; seq < 10; seq++) await client.submit(event("s:g", seq));
      await until(() => release.size === 4, "four events at the handler");
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(started, [0, 1, 2, 3]);
      // Resolved last to first: nothing is acknowledged before event 0.
      for (const seq of [3, 2, 1]) release.get(seq)!();
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(acked, []);
      assert.deepEqual(started, [0, 1, 2, 3]);
      release.get(0)!();
      await until(() => started.length === 8, "the next four at the handler");
      assert.deepEqual(acked, [0, 1, 2, 3]);
      assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6, 7]);
      for (const seq of [7, 6, 5, 4]) release.get(seq)!();
      await until(() => started.length === 10, "the last two at the handler");
      for (const seq of [9, 8]) release.get(seq)!();
      await within(client.drained(), "all acknowledgements");
      assert.deepEqual(acked, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      await client.close();
      await server.close();
    }
  });
});

Deno.test("with orderKey the stem, two workgroups of one stem share a lane (one event at the handler, arrival order) while another stem's go on", async () => {
  await withDir(async (dir) => {
    const key = await writeKey(dir);
    const path = `${dir}/event.sock`;
    const started: string[] = [];
    const release = new Map<string, () => void>();
    const server = await ChannelServer.listen({
      address: { transport: "unix", path },
      keyFile: key.path,
      orderKey: (incoming) => incoming.workgroup.split(":")[0],
      handler: async (incoming) => {
        started.push(incoming.id);
        await new Promise<void>((resolve) => release.set(incoming.id, resolve));
      },
    });
    const acked: string[] = [];
    const client = await ChannelClient.open({
      address: { transport: "unix", path },
      keyFile: key.path,
      connections: 1,
      reconnect: { minDelay: 10, maxDelay: 50 },
      onAck: (id) => acked.push(id),
    });
    try {
      for (
        const [workgroup, seq] of [["s:a", 0], ["s:b", 0], ["t:c", 0], [
          "s:a",
          1,
        ], ["t:c", 1]] as const
      ) {
        await client.submit(event(workgroup, seq));
      }
      await until(() => started.length === 2, "one event of each stem");
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(started, ["s:a#0", "t:c#0"]);
      release.get("t:c#0")!();
      await until(() => started.length === 3, "t's next event");
      assert.deepEqual(started, ["s:a#0", "t:c#0", "t:c#1"]);
      release.get("s:a#0")!();
      await until(() => started.length === 4, "s:b after s:a#0");
      assert.deepEqual(started.slice(3), ["s:b#0"]);
      release.get("s:b#0")!();
      await until(() => started.length === 5, "s:a#1 after s:b#0");
      assert.deepEqual(started.slice(4), ["s:a#1"]);
      release.get("s:a#1")!();
      release.get("t:c#1")!();
      await within(client.drained(), "all acknowledgements");
      assert.deepEqual(acked.filter((id) => id.startsWith("s:")), [
        "s:a#0",
        "s:b#0",
        "s:a#1",
      ]);
      assert.deepEqual(acked.filter((id) => id.startsWith("t:")), [
        "t:c#0",
        "t:c#1",
      ]);
    } finally {
      await client.close();
      await server.close();
    }
  });
});

Deno.test("a perKeyInFlight below 1 is refused with a RangeError naming it", async () => {
  await withDir(async (dir) => {
    const key = await writeKey(dir);
    await assert.rejects(
      ChannelServer.listen({
        address: { transport: "unix", path: `${dir}/event.sock` },
        keyFile: key.path,
        perKeyInFlight: 0,
        handler: async () => {},
      }),
      { name: "RangeError", message: /perKeyInFlight/ },
    );
  });
});
