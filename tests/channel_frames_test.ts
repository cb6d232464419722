// Framing and bad-input tests. The server runs for real on a Unix socket in
// a temporary directory; misbehaving peers are raw sockets (our client never
// sends garbage, so a raw socket plays that part).

import assert from "node:assert/strict";
import {
  AuthKey,
  ChannelClient,
  ChannelServer,
  clientHandshake,
  encodeFrame,
  FrameError,
  FrameReader,
  FrameWriter,
} from "../lib/channel/mod.ts";
import {
  decodeMessage,
  encodeEvent,
  openMessages,
} from "../lib/channel/mod.ts";

type Authenticated = Awaited<ReturnType<typeof authenticated>>;
import { captureLogs, text } from "./helpers/consumer.ts";
import { event, until, withDir, within, writeKey } from "./helpers/channel.ts";

/** A byte source handing out `data` in chunks of the given sizes (in-memory; framing is pure). */
function chunked(data: Uint8Array, sizes: number[]) {
  let offset = 0;
  let i = 0;
  return {
    read(buffer: Uint8Array): Promise<number | null> {
      if (offset >= data.length) return Promise.resolve(null);
      const n = Math.min(
        sizes[i++ % sizes.length],
        buffer.length,
        data.length - offset,
      );
      buffer.set(data.subarray(offset, offset + n));
      offset += n;
      return Promise.resolve(n);
    },
  };
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

Deno.test("frames split across reads or joined in one read come out whole and in order", async () => {
  const payloads = ["a", "", "x".repeat(100_000), "ü€", "end"];
  const data = concat(...payloads.map((p) => encodeFrame(p)));
  for (const sizes of [[1], [3, 7], [data.length], [65536]]) {
    const reader = new FrameReader(chunked(data, sizes), { maxBytes: 200_000 });
    const out: string[] = [];
    for (
      let payload = await reader.read();
      payload !== null;
      payload = await reader.read()
    ) {
      out.push(new TextDecoder().decode(payload));
    }
    assert.deepEqual(out, payloads, `chunk sizes ${sizes}`);
  }
});

Deno.test("a frame above the limit is refused before its payload is read", async () => {
  const data = concat(encodeFrame("ok"), encodeFrame("y".repeat(2000)));
  let consumed = 0;
  const source = chunked(data, [6]);
  const reader = new FrameReader({
    read: async (buffer) => {
      const n = await source.read(buffer);
      consumed += n ?? 0;
      return n;
    },
  }, { maxBytes: 1000 });
  assert.equal(new TextDecoder().decode((await reader.read())!), "ok");
  await assert.rejects(
    reader.read(),
    (error) =>
      error instanceof FrameError &&
      error.message === "frame of 2000 bytes exceeds the limit of 1000 bytes",
  );
  assert.ok(
    consumed < 20,
    `only the header was read, not the payload (${consumed} bytes)`,
  );
});

Deno.test("a stream ending inside a frame is an error, between frames it is the end", async () => {
  const whole = encodeFrame("hello");
  const reader = new FrameReader(chunked(whole.subarray(0, 6), [6]), {
    maxBytes: 100,
  });
  await assert.rejects(
    reader.read(),
    /the stream ended inside a frame \(6 bytes of it received\)/,
  );
  const empty = new FrameReader(chunked(new Uint8Array(0), [1]), {
    maxBytes: 100,
  });
  assert.equal(await empty.read(), null);
});

/** Starts a server and a good client; runs `fn`; checks the good client still works afterwards. */
async function withServer(
  options: { maxFrameBytes?: number; maxEventBytes?: number },
  fn: (
    ctx: {
      path: string;
      keyFile: string;
      server: ChannelServer;
      received: string[];
    },
  ) => Promise<void>,
): Promise<void> {
  await withDir(async (dir) => {
    const key = await writeKey(dir);
    const path = `${dir}/event.sock`;
    const received: string[] = [];
    const server = await ChannelServer.listen({
      address: { transport: "unix", path },
      keyFile: key.path,
      handler: (e) => {
        received.push(e.id);
        return Promise.resolve();
      },
      ...options,
    });
    const good = await ChannelClient.open({
      address: { transport: "unix", path },
      keyFile: key.path,
      connections: 1,
    });
    try {
      await within(good.waitConnected(), "the connection");
      await good.submit(event("s:good", 1));
      await fn({ path, keyFile: key.path, server, received });
      await good.submit(event("s:good", 2));
      await within(good.drained(), "all acknowledgements");
      assert.deepEqual(received.filter((id) => id.startsWith("s:good")), [
        "s:good#1",
        "s:good#2",
      ]);
      assert.equal(good.connected, 1, "the good connection was never dropped");
    } finally {
      await good.close();
      await server.close();
    }
  });
}

/**
 * Opens a raw socket and authenticates it with our handshake (for garbage
 * after authentication): `writer` seals what it is given (garbage with a
 * good MAC), `conn` writes unsealed bytes.
 */
async function authenticated(path: string, keyFile: string) {
  const conn = await Deno.connect({ transport: "unix", path });
  const frames = new FrameReader(conn, { maxBytes: 4096 });
  const handshake = await clientHandshake(
    { reader: frames, writer: new FrameWriter(conn) },
    await AuthKey.load(keyFile),
    { maxFrameBytes: 1 << 20 },
  );
  const { reader, writer } = openMessages(conn, frames, handshake, {
    from: "the server",
    maxFrameBytes: 1 << 20,
    maxMessageBytes: 1 << 20,
    initial: handshake.ready,
  });
  decodeMessage((await reader.read())!, ["ready"]);
  return { conn, reader, writer };
}

Deno.test("garbage before authentication is refused with a clear log line; the server keeps serving", async () => {
  await captureLogs(async (records) => {
    await withServer({}, async ({ path, server }) => {
      // 1. Not JSON where the hello belongs.
      let conn = await Deno.connect({ transport: "unix", path });
      let reader = new FrameReader(conn, { maxBytes: 4096 });
      await reader.read(); // the challenge
      await conn.write(encodeFrame(new Uint8Array([0xff, 0x00, 0x13, 0x37])));
      assert.equal(
        await reader.read().catch(() => null),
        null,
        "the server closes the connection",
      );
      conn.close();
      // 2. An HTTP request: its first bytes read as a 1.1 GB length.
      conn = await Deno.connect({ transport: "unix", path });
      reader = new FrameReader(conn, { maxBytes: 4096 });
      await reader.read();
      await conn.write(
        new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
      );
      assert.equal(await reader.read().catch(() => null), null);
      conn.close();
      await until(() => server.stats.refused === 2, "two refusals");
      const lines = records.map(text).filter((line) =>
        line.startsWith("Refused")
      );
      assert.match(
        lines[0],
        /^Refused channel connection #\d+ on unix:.*: expected a JSON "hello" message, got 4 bytes that are not UTF-8 JSON \(first bytes ff 00 13 37\)$/,
      );
      assert.match(
        lines[1],
        /^Refused channel connection #\d+ on unix:.*: frame of 1195725856 bytes exceeds the limit of 4096 bytes$/,
      );
    });
  });
});

Deno.test("garbage after authentication closes only that connection, with a log line saying what was expected", async () => {
  await captureLogs(async (records) => {
    await withServer({}, async ({ path, keyFile, server, received }) => {
      const cases: [Uint8Array, RegExp][] = [
        [
          encodeFrame("not json"),
          /expected a JSON "event" message, got 8 bytes that are not UTF-8 JSON/,
        ],
        [
          encodeFrame('{"type":"ack","id":"x"}'),
          /expected a message of type "event", got type "ack"/,
        ],
        [
          encodeFrame('{"type":"event","workgroup":"s:x","body":{}}'),
          /expected field "id" \(string\) in the "event" message/,
        ],
        [
          encodeFrame('{"type":"event","id":"","workgroup":"s:x","body":{}}'),
          /expected an event with a non-empty id/,
        ],
        [encodeFrame("[1,2]"), /expected a JSON object of type "event"/],
      ];
      for (const [frame, expected] of cases) {
        const { conn, reader, writer } = await authenticated(path, keyFile);
        // A good event first: it is handled and acknowledged.
        await writer.write(encodeFrame(encodeEvent("s:raw#1", "s:raw", "{}")));
        assert.ok(await reader.read());
        await writer.write(frame);
        assert.equal(
          await reader.read().catch(() => null),
          null,
          `closed after ${expected}`,
        );
        conn.close();
        await until(
          () => records.some((r) => expected.test(text(r))),
          `a log line matching ${expected}`,
        );
        const line = records.map(text).find((l) => expected.test(l))!;
        assert.match(line, /^Closing channel connection #\d+ on unix:/);
      }
      assert.equal(server.stats.closedOnError, cases.length);
      assert.equal(
        received.filter((id) => id === "s:raw#1").length,
        cases.length,
      );
    });
  });
});

Deno.test("after authentication, an unsealed frame, a frame above the frame limit and an event above the event limit each close that connection only, naming the peer and the sizes", async () => {
  await captureLogs(async (records) => {
    await withServer(
      { maxFrameBytes: 2048, maxEventBytes: 4096 },
      async ({ path, keyFile, server }) => {
        const cases: [(c: Authenticated) => Promise<unknown>, RegExp][] = [
          [
            // The old protocol's event frame, without sequence number or MAC.
            (c) =>
              c.conn.write(
                encodeFrame(encodeFrame(encodeEvent("s:x#1", "s:x", "{}"))),
              ),
            /: record 0 from the client \(\d+ bytes\) failed MAC verification: it was not sealed by the authenticated peer of this connection/,
          ],
          [
            // A garbage length where the next record belongs.
            (c) => c.conn.write(new Uint8Array([0x7f, 0xff, 0xff, 0xff, 1])),
            /: frame of 2147483647 bytes exceeds the limit of 2048 bytes \(channel\.max_frame_bytes\)$/,
          ],
          [
            // A well-sealed event of 5000 bytes (in three records).
            (c) =>
              c.writer.write(
                encodeFrame(
                  encodeEvent(
                    "s:big#1",
                    "s:big",
                    JSON.stringify({ pad: "z".repeat(4950) }),
                  ),
                ),
              ),
            /: event of 50\d\d bytes exceeds the limit of 4096 bytes \(channel\.max_event_bytes\)$/,
          ],
        ];
        for (const [send, expected] of cases) {
          const c = await authenticated(path, keyFile);
          await send(c);
          assert.equal(
            await c.reader.read().catch(() => null),
            null,
            `closed after ${expected}`,
          );
          c.conn.close();
          await until(
            () => records.some((r) => expected.test(text(r))),
            `a log line matching ${expected}`,
          );
          const line = records.map(text).find((l) => expected.test(l))!;
          assert.match(line, /^Closing channel connection #\d+ on unix:/);
        }
        assert.equal(server.stats.closedOnError, cases.length);
      },
    );
  });
});

Deno.test("a stale socket file is replaced; a socket in use is refused", async () => {
  await withDir(async (dir) => {
    const key = await writeKey(dir);
    const path = `${dir}/event.sock`;
    // A stale socket: bound and abandoned.
    const stale = Deno.listen({ transport: "unix", path });
    stale.close();
    const server = await ChannelServer.listen({
      address: { transport: "unix", path },
      keyFile: key.path,
      handler: () => Promise.resolve(),
    });
    try {
      await assert.rejects(
        ChannelServer.listen({
          address: { transport: "unix", path },
          keyFile: key.path,
          handler: () => Promise.resolve(),
        }),
        /Cannot listen for the channel as another server is listening: path is/,
      );
      await Deno.writeTextFile(`${dir}/plain`, "x");
      await assert.rejects(
        ChannelServer.listen({
          address: { transport: "unix", path: `${dir}/plain` },
          keyFile: key.path,
          handler: () => Promise.resolve(),
        }),
        /the socket path exists and is not a socket/,
      );
    } finally {
      await server.close();
    }
  });
});
