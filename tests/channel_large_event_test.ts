// Events larger than a frame: a workgroup.created of 200,000 members (about
// 16 MB of JSON, realistic DNs) end to end through a real client and server
// on a Unix socket, with the limits a role gets from the [channel] section's
// defaults.

import assert from "node:assert/strict";
import {
  ChannelClient,
  ChannelServer,
  type IncomingEvent,
} from "../lib/channel/mod.ts";
import { channelSchema } from "../lib/config/sections/channel.ts";
import { captureLogs, text } from "./helpers/consumer.ts";
import { event, until, withDir, within, writeKey } from "./helpers/channel.ts";

interface Member {
  dn: string;
  id: string;
  uid: string;
}

/** A workgroup.created event as wgsync-ldap derives it (schema v1), `count` members. */
function createdEvent(workgroup: string, count: number): string {
  const members: Member[] = [];
  for (let i = 0; i < count; i++) {
    const uid = `p${String(i).padStart(7, "0")}`;
    members.push({
      dn: `uid=${uid},cn=people,dc=stanford,dc=edu`,
      id: uid,
      uid,
    });
  }
  return JSON.stringify({
    v: 1,
    id: "a".repeat(64),
    type: "workgroup.created",
    workgroup,
    stem: workgroup.split(":")[0],
    members,
    csn: "20250101000000.000001Z#000000#000#000000",
    seq: 1,
    observedAt: "2025-01-01T00:00:00.000Z",
  });
}

Deno.test("a 200,000-member workgroup.created event travels end to end with the [channel] defaults, in order with its workgroup's later events", async () => {
  await withDir(async (dir) => {
    const key = await writeKey(dir);
    const path = `${dir}/event.sock`;
    const settings = channelSchema.parse({
      socket: path,
      auth_key_file: key.path,
    });
    const received: IncomingEvent[] = [];
    const server = await ChannelServer.listen({
      address: { transport: "unix", path },
      keyFile: key.path,
      maxFrameBytes: settings.max_frame_bytes,
      maxEventBytes: (settings as { max_event_bytes?: number }).max_event_bytes,
      handler: (e) => {
        received.push(e);
        return Promise.resolve();
      },
    });
    const acked: string[] = [];
    const client = await ChannelClient.open({
      address: { transport: "unix", path },
      keyFile: key.path,
      connections: settings.connections,
      window: settings.window,
      maxFrameBytes: settings.max_frame_bytes,
      reconnect: { minDelay: 10, maxDelay: 100 },
      onAck: (id) => acked.push(id),
    });
    try {
      const body = createdEvent("all:people", 200_000);
      assert.ok(
        body.length > 16 * settings.max_frame_bytes,
        `the event (${body.length} bytes) is many frames long`,
      );
      await client.submit({
        id: "all:people#1",
        workgroup: "all:people",
        body,
      });
      await client.submit(event("all:people", 2));
      await client.submit(event("s:other", 1));
      await within(client.drained(), "all acknowledgements", 60_000);
      assert.deepEqual(
        received.filter((e) => e.workgroup === "all:people").map((e) => e.id),
        ["all:people#1", "all:people#2"],
      );
      assert.deepEqual(acked.sort(), [
        "all:people#1",
        "all:people#2",
        "s:other#1",
      ]);
      const created = received.find((e) => e.id === "all:people#1")!;
      // The whole event, byte for byte as sent.
      assert.equal(JSON.stringify(created.body), body);
      const members = (created.body as { members: Member[] }).members;
      assert.equal(members.length, 200_000);
      assert.deepEqual(members[199_999], {
        dn: "uid=p0199999,cn=people,dc=stanford,dc=edu",
        id: "p0199999",
        uid: "p0199999",
      });
      assert.equal(server.stats.closedOnError, 0);
      assert.equal(server.stats.authenticated, settings.connections);
    } finally {
      await client.close();
      await server.close();
    }
  });
});

Deno.test("an event above the server's limit is held by the client with a line naming it and both sizes; the events after it wait behind it, those before it are acknowledged", async () => {
  await captureLogs(async (logs) => {
    await withDir(async (dir) => {
      const key = await writeKey(dir);
      const path = `${dir}/event.sock`;
      const handled: string[] = [];
      const server = await ChannelServer.listen({
        address: { transport: "unix", path },
        keyFile: key.path,
        maxEventBytes: 4096,
        handler: (e) => {
          handled.push(e.id);
          return Promise.resolve();
        },
      });
      const client = await ChannelClient.open({
        address: { transport: "unix", path },
        keyFile: key.path,
        connections: 1,
        reconnect: { minDelay: 10, maxDelay: 50 },
      });
      try {
        await client.submit(event("s:other", 1));
        await client.submit({
          id: "s:big#1",
          workgroup: "s:big",
          body: JSON.stringify({ pad: "z".repeat(5000) }),
        });
        await client.submit(event("s:big", 2));
        await client.submit(event("s:other", 2));
        await until(
          () => logs.some((r) => text(r).includes("holds event")),
          "the client's line about the event",
        );
        await until(() => client.inFlight === 3, "the earlier event's ack");
        const line = logs.map(text).find((l) => l.includes("holds event"))!;
        assert.match(
          line,
          /^Channel connection 1 to unix:.*event\.sock holds event s:big#1 of 50\d\d bytes as the server accepts at most 4096 bytes \(channel\.max_event_bytes\); it and the events after it on this connection wait until the limit is raised on both ends$/,
        );
        assert.deepEqual(handled, ["s:other#1"]);
        assert.equal(client.inFlight, 3, "the held event and those after it");
        assert.equal(client.connected, 1, "no reconnect loop");
      } finally {
        await client.close();
        await server.close();
      }
    });
  });
});
