// A relay without the key between a real client and a real server over TCP
// (tests/helpers/channel_relay.ts) drops, forges, replays and reflects; each
// is detected, the client keeps its unacknowledged events, and the genuine
// connection that follows delivers them.

import assert from "node:assert/strict";
import {
  ChannelClient,
  ChannelServer,
  encodeFrame,
  type EventContext,
  FrameReader,
  type IncomingEvent,
} from "../lib/channel/mod.ts";
import { encodeEvent } from "../lib/channel/protocol.ts";
import { captureLogs, text } from "./helpers/consumer.ts";
import { isHandshake, Relay, type Tamper } from "./helpers/channel_relay.ts";
import { event, until, withDir, within, writeKey } from "./helpers/channel.ts";

const decoder = new TextDecoder();

interface Handled {
  id: string;
  connection: number;
}

/**
 * A TCP server, a relay in front of it tampering with its first connection
 * (with every connection when `all`), and a client behind the relay.
 */
async function withRelay(
  tamper: Tamper,
  fn: (ctx: {
    server: ChannelServer;
    relay: Relay;
    client: ChannelClient;
    handled: Handled[];
    acked: string[];
    keyFile: string;
    gate: { wait: Promise<void>; open: () => void };
  }) => Promise<void>,
  options: { all?: boolean } = {},
): Promise<void> {
  await withDir(async (dir) => {
    const key = await writeKey(dir);
    const handled: Handled[] = [];
    let open!: () => void;
    const gate = { wait: new Promise<void>((r) => open = r), open: () => {} };
    gate.open = open;
    const server = await ChannelServer.listen({
      address: { transport: "tcp", hostname: "127.0.0.1", port: 0 },
      keyFile: key.path,
      handler: async (e: IncomingEvent, context: EventContext) => {
        handled.push({ id: e.id, connection: context.connection });
        if (context.connection === 1) await gate.wait;
      },
    });
    const address = server.address as { hostname: string; port: number };
    const relay = new Relay(
      address,
      (direction, payload, connection) =>
        connection.number === 1 || options.all
          ? tamper(direction, payload, connection)
          : undefined,
    );
    const acked: string[] = [];
    const client = await ChannelClient.open({
      address: relay.address,
      keyFile: key.path,
      connections: 1,
      reconnect: { minDelay: 10, maxDelay: 50 },
      onAck: (id) => acked.push(id),
    });
    try {
      await fn({
        server,
        relay,
        client,
        handled,
        acked,
        keyFile: key.path,
        gate,
      });
    } finally {
      gate.open();
      await client.close();
      await relay.close();
      await server.close();
    }
  });
}

/** The frames after the handshake that the relay saw going `direction`. */
function records(frames: Uint8Array[]): Uint8Array[] {
  return frames.filter((frame) => !isHandshake(frame));
}

Deno.test("a relay that drops an event frame is detected by the server; the client re-sends it on a genuine connection", async () => {
  await captureLogs(async (logs) => {
    let dropped = 0;
    await withRelay(
      (direction, payload) => {
        if (direction === "toServer" && !isHandshake(payload) && dropped < 1) {
          dropped++;
          return [];
        }
      },
      async ({ client, handled, acked, gate }) => {
        gate.open();
        await client.submit(event("s:g", 1));
        await until(() => dropped === 1, "the relay to drop the first event");
        await client.submit(event("s:g", 2));
        await within(client.drained(), "all acknowledgements");
        assert.deepEqual(acked, ["s:g#1", "s:g#2"]);
        // Nothing was handled on the tampered connection: the gap was seen first.
        assert.deepEqual(handled.filter((h) => h.connection === 1), []);
        const line = logs.map(text).find((l) =>
          l.startsWith("Closing channel connection #1 ")
        );
        assert.match(
          line ?? "",
          /^Closing channel connection #1 from 127\.0\.0\.1:\d+: record 1 from the client arrived where record 0 was expected \(1 missing: dropped on the way\)$/,
        );
      },
    );
  });
});

Deno.test("a relay that forges an acknowledgement is detected by the client, which keeps the event and re-sends it", async () => {
  await captureLogs(async (logs) => {
    let forged = false;
    await withRelay(
      async (direction, payload, connection) => {
        if (direction !== "toServer" || isHandshake(payload) || forged) return;
        forged = true;
        // Pass the event on (the server holds it: its handler waits), then
        // acknowledge it to the client as the relay best can.
        await connection.inject("toServer", payload);
        const challenge = JSON.parse(
          decoder.decode(connection.seen.toClient[0]),
        );
        const ack = encodeFrame(
          new TextEncoder().encode(
            JSON.stringify({ type: "ack", id: "s:g#1" }),
          ),
        );
        if (challenge.version === 1) {
          await connection.inject("toClient", ack.subarray(4));
        } else {
          // A record: the next sequence number, the ack, a MAC it cannot compute.
          const sequence = records(connection.seen.toClient).length;
          const record = new Uint8Array(8 + ack.length + 16);
          new DataView(record.buffer).setUint32(4, sequence);
          record.set(ack, 8);
          record.set(
            crypto.getRandomValues(new Uint8Array(16)),
            8 + ack.length,
          );
          await connection.inject("toClient", record);
        }
        return [];
      },
      async ({ client, acked, gate, handled }) => {
        await client.submit(event("s:g", 1));
        await until(() => forged, "the forged acknowledgement");
        await until(
          () => logs.some((r) => text(r).includes("is down")),
          "the client to see the forgery",
        );
        assert.deepEqual(acked, [], "a forged acknowledgement empties nothing");
        assert.equal(client.inFlight, 1, "the event is still in the window");
        const line = logs.map(text).find((l) => l.includes("is down"))!;
        assert.match(
          line,
          /^Channel connection 1 to tcp:127\.0\.0\.1:\d+ is down \(record 1 from the server \(\d+ bytes\) failed MAC verification: it was not sealed by the authenticated peer of this connection \(altered, forged or from another connection\)\); 1 events await acknowledgement/,
        );
        gate.open();
        await within(client.drained(), "the genuine acknowledgement");
        assert.deepEqual(acked, ["s:g#1"]);
        assert.ok(handled.some((h) => h.connection > 1 && h.id === "s:g#1"));
      },
    );
  });
});

Deno.test("a relay that replays an event frame is detected by the server; the event is handled once on that connection", async () => {
  await captureLogs(async (logs) => {
    let replayed = false;
    await withRelay(
      (direction, payload) => {
        if (direction === "toServer" && !isHandshake(payload) && !replayed) {
          replayed = true;
          return [payload, payload];
        }
      },
      async ({ client, handled, acked, gate }) => {
        gate.open();
        await client.submit(event("s:g", 1));
        await within(client.drained(), "the acknowledgement");
        assert.deepEqual(acked, ["s:g#1"]);
        await until(
          () =>
            logs.some((r) =>
              text(r).startsWith("Closing channel connection #1 ")
            ),
          "the server to see the replay",
        );
        assert.deepEqual(
          handled.filter((h) => h.connection === 1).map((h) => h.id),
          ["s:g#1"],
        );
        const line = logs.map(text).find((l) =>
          l.startsWith("Closing channel connection #1 ")
        );
        assert.match(
          line ?? "",
          /^Closing channel connection #1 from 127\.0\.0\.1:\d+: record 0 from the client arrived again where record 1 was expected \(replayed\)$/,
        );
      },
    );
  });
});

Deno.test("a record replayed into a later connection fails its MAC there", async () => {
  await captureLogs(async (logs) => {
    let captured: Uint8Array | undefined;
    await withRelay(
      (direction, payload, connection) => {
        if (direction !== "toServer" || isHandshake(payload)) return;
        if (connection.number === 1 && captured === undefined) {
          captured = payload;
        } else if (connection.number === 2) {
          return [captured!, payload];
        }
      },
      async ({ client, relay, acked, gate }) => {
        gate.open();
        await client.submit(event("s:g", 1));
        await within(client.drained(), "the first acknowledgement");
        // Break the first connection; the client makes a second one.
        await relay.closeConnections();
        await until(() => client.connected === 0, "the client to notice");
        await client.submit(event("s:g", 2));
        await within(client.drained(), "the second acknowledgement");
        assert.deepEqual(acked, ["s:g#1", "s:g#2"]);
        const line = logs.map(text).find((l) =>
          l.startsWith("Closing channel connection #2 ")
        );
        assert.match(
          line ?? "",
          /^Closing channel connection #2 from 127\.0\.0\.1:\d+: record 0 from the client \(\d+ bytes\) failed MAC verification: it was not sealed by the authenticated peer of this connection \(altered, forged or from another connection\)$/,
        );
      },
      { all: true },
    );
  });
});

Deno.test("a relay that reflects the server's challenge to the client and the server's proof back to the server gets no proof and no session", async () => {
  await captureLogs(async (logs) => {
    const fromClient: Uint8Array[] = [];
    let own: { conn: Deno.Conn; frames: FrameReader } | undefined;
    let attack: Promise<string[]> | undefined;
    await withRelay(
      async (direction, payload, connection) => {
        if (direction === "toClient") {
          // The relay's own connection (no key): its challenge goes to the
          // genuine client instead of the one meant for the client.
          const conn = await Deno.connect(connection.target);
          own = { conn, frames: new FrameReader(conn, { maxBytes: 1 << 20 }) };
          return [(await own.frames.read())!];
        }
        fromClient.push(payload);
        if (fromClient.length > 1) return [];
        // The client's answer goes to the relay's own connection, and
        // whatever proof the relay can get is reflected to the server.
        attack = (async () => {
          const steps: string[] = [];
          const { conn, frames } = own!;
          await conn.write(encodeFrame(payload));
          const welcome = await frames.read();
          steps.push(welcome === null ? "closed" : decoder.decode(welcome));
          const { type, proof } = JSON.parse(steps[0]);
          if (
            type === "welcome" && !JSON.parse(decoder.decode(payload)).proof
          ) {
            await conn.write(
              encodeFrame(JSON.stringify({ type: "proof", proof })),
            );
            const answer = await frames.read().catch(() => null);
            steps.push(answer === null ? "closed" : decoder.decode(answer));
          }
          // Try an event of its own on that connection.
          await conn.write(
            encodeFrame(encodeEvent("s:forged#1", "s:forged", "{}")),
          ).catch(() => {});
          await frames.read().catch(() => null);
          conn.close();
          connection.close();
          return steps;
        })();
        return [];
      },
      async ({ client, handled, acked, gate }) => {
        gate.open();
        await client.submit(event("s:g", 1));
        await within(client.drained(), "the acknowledgement");
        const steps = await attack!;
        assert.deepEqual(acked, ["s:g#1"]);
        assert.deepEqual(
          handled.filter((h) => h.id === "s:forged#1"),
          [],
          "the relay's event was never handled",
        );
        // The client answered the reflected challenge with a challenge only:
        // no proof, and nothing more without the server's proof.
        assert.equal(fromClient.length, 1);
        assert.deepEqual(
          Object.keys(JSON.parse(decoder.decode(fromClient[0]))).sort(),
          ["challenge", "maxFrameBytes", "type", "version"],
        );
        assert.equal(
          JSON.parse(steps[1]).reason,
          "wrong proof: expected the client proof derived from the shared auth key and this handshake (the client holds another key, or the proof was reflected or relayed from another handshake)",
        );
        await until(
          () => logs.some((r) => /^Refused .*wrong proof/.test(text(r))),
          "the server's refusal in the log",
        );
      },
    );
  });
});
