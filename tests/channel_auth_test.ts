// Channel authentication tests: both ends are ours and run for real over a
// Unix socket in a temporary directory. Needs read/write in the temp dir and
// net (Unix sockets at random temp paths need unscoped --allow-net).

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  AuthKey,
  AuthKeyError,
  ChannelClient,
  ChannelServer,
  encodeFrame,
  FrameReader,
  FrameWriter,
  type IncomingEvent,
} from "../lib/channel/mod.ts";
import {
  decodeMessage,
  encodeMessage,
  PROTOCOL_VERSION,
} from "../lib/channel/protocol.ts";
import { captureLogs, text } from "./helpers/consumer.ts";
import { event, until, withDir, within, writeKey } from "./helpers/channel.ts";

Deno.test("a client holding the shared key is accepted both ways and its events are acknowledged", async () => {
  await withDir(async (dir) => {
    const key = await writeKey(dir);
    const path = `${dir}/event.sock`;
    const received: IncomingEvent[] = [];
    const server = await ChannelServer.listen({
      address: { transport: "unix", path },
      keyFile: key.path,
      handler: (e) => {
        received.push(e);
        return Promise.resolve();
      },
    });
    const acked: string[] = [];
    const client = await ChannelClient.open({
      address: { transport: "unix", path },
      keyFile: key.path,
      connections: 2,
      onAck: (id) => acked.push(id),
    });
    try {
      await within(client.waitConnected(), "the connections");
      assert.equal(client.connected, 2);
      for (let i = 0; i < 10; i++) await client.submit(event("s:g", i));
      await within(client.drained(), "all acknowledgements");
      assert.deepEqual(acked, Array.from({ length: 10 }, (_, i) => `s:g#${i}`));
      assert.deepEqual(received.map((e) => e.id), acked);
      assert.deepEqual(received[3].body, {
        v: 1,
        type: "member.added",
        workgroup: "s:g",
        seq: 3,
      });
      assert.equal(server.stats.authenticated, 2);
      assert.equal(server.stats.refused, 0);
      // The socket file is not open to others.
      assert.equal(Deno.statSync(path).mode! & 0o007, 0);
    } finally {
      await client.close();
      await server.close();
    }
  });
});

Deno.test("a client with a wrong key is refused with a log line naming the connection; other connections keep working", async () => {
  await captureLogs(async (records) => {
    await withDir(async (dir) => {
      const key = await writeKey(dir);
      const wrong = await writeKey(dir, "wrong.key");
      const path = `${dir}/event.sock`;
      const received: string[] = [];
      const server = await ChannelServer.listen({
        address: { transport: "unix", path },
        keyFile: key.path,
        handler: (e) => {
          received.push(e.id);
          return Promise.resolve();
        },
      });
      const good = await ChannelClient.open({
        address: { transport: "unix", path },
        keyFile: key.path,
        connections: 1,
      });
      const bad = await ChannelClient.open({
        address: { transport: "unix", path },
        keyFile: wrong.path,
        connections: 1,
        reconnect: { minDelay: 20, maxDelay: 50 },
      });
      try {
        await within(good.waitConnected(), "the connection");
        await good.submit(event("s:a", 1));
        await bad.submit(event("s:b", 1));
        await until(() => server.stats.refused >= 2, "two refusals");
        await good.submit(event("s:a", 2));
        await within(good.drained(), "all acknowledgements");
        assert.deepEqual(received, ["s:a#1", "s:a#2"]);
        assert.equal(bad.connected, 0);
        assert.equal(
          bad.inFlight,
          1,
          "the refused client keeps its event for later",
        );
        const refusal = records.map(text).find((line) =>
          line.startsWith("Refused channel connection")
        );
        assert.match(
          refusal ?? "",
          /^Refused channel connection #\d+ on unix:.*event\.sock: the client closed the connection without proving the key \(it holds another key and so refused the server's proof\)$/,
        );
        const clientSide = records.map(text).find((line) =>
          line.includes("is down")
        );
        assert.match(
          clientSide ?? "",
          /authentication failed: the server's proof is wrong: expected the server proof derived from the shared auth key and this handshake/,
        );
        // Neither key appears in any log line.
        for (const record of records) {
          const line = text(record) + JSON.stringify(record.properties);
          assert.ok(
            !line.includes(key.text) && !line.includes(wrong.text),
            "a key leaked into the logs",
          );
        }
      } finally {
        await bad.close();
        await good.close();
        await server.close();
      }
    });
  });
});

Deno.test("a server that cannot prove the key is detected by the client", async () => {
  await withDir(async (dir) => {
    const key = await writeKey(dir);
    const path = `${dir}/fake.sock`;
    // A misbehaving server does not exist among our parts: this raw listener
    // plays one (it answers the hello with a bogus proof).
    const listener = Deno.listen({ transport: "unix", path });
    const hellos: (Uint8Array | null)[] = [];
    const afterWelcome: (Uint8Array | null)[] = [];
    const fake = (async () => {
      const conn = await listener.accept();
      const io = {
        reader: new FrameReader(conn, { maxBytes: 4096 }),
        writer: new FrameWriter(conn),
      };
      await io.writer.write(encodeFrame(encodeMessage({
        type: "challenge",
        version: PROTOCOL_VERSION,
        challenge: Buffer.alloc(32, 7).toString("base64"),
        maxFrameBytes: 4096,
        maxEventBytes: 4096,
      })));
      hellos.push(await io.reader.read());
      decodeMessage(hellos[0]!, ["hello"]);
      await io.writer.write(
        encodeFrame(encodeMessage({ type: "welcome", proof: "00".repeat(32) })),
      );
      // The client proves nothing to a server that did not prove the key.
      afterWelcome.push(await io.reader.read().catch(() => null));
      conn.close();
    })();

    const errors: string[] = [];
    await captureLogs(async (records) => {
      const client = await ChannelClient.open({
        address: { transport: "unix", path },
        keyFile: key.path,
        connections: 1,
        reconnect: { minDelay: 10_000, maxDelay: 10_000 },
      });
      await until(
        () => records.some((r) => text(r).includes("is down")),
        "the client's failure",
      );
      errors.push(...records.map(text));
      assert.equal(client.connected, 0);
      await client.close();
    });
    await fake;
    listener.close();
    assert.ok(
      errors.some((line) => line.includes("the server's proof is wrong")),
      errors.join("\n"),
    );
    assert.deepEqual(
      Object.keys(JSON.parse(new TextDecoder().decode(hellos[0]!))).sort(),
      ["challenge", "maxFrameBytes", "type", "version"],
      "the hello carries no proof",
    );
    assert.deepEqual(afterWelcome, [null], "nothing after a bad welcome");
  });
});

Deno.test("a key file open to group or others (0644) is refused by both ends with a clear error", async () => {
  await withDir(async (dir) => {
    const loose = await writeKey(dir, "loose.key", 0o644);
    const expected = (error: unknown) =>
      error instanceof AuthKeyError &&
      error.message ===
        `Cannot use the channel auth key as its file is open to group or others: path is "${loose.path}", mode is 0644, expected 0600 or tighter`;
    await assert.rejects(AuthKey.load(loose.path), expected);
    await assert.rejects(
      ChannelServer.listen({
        address: { transport: "unix", path: `${dir}/s.sock` },
        keyFile: loose.path,
        handler: () => Promise.resolve(),
      }),
      expected,
    );
    await assert.rejects(
      ChannelClient.open({
        address: { transport: "unix", path: `${dir}/s.sock` },
        keyFile: loose.path,
      }),
      expected,
    );
    // 0400 is tighter than 0600 and fine.
    const strict = await writeKey(dir, "strict.key", 0o400);
    await AuthKey.load(strict.path);
  });
});

Deno.test("a short, missing or non-regular key file is refused without revealing its content", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/short.key`, "tiny-secret\n", {
      mode: 0o600,
    });
    await assert.rejects(
      AuthKey.load(`${dir}/short.key`),
      (error: Error) =>
        /too short: .* expected at least 16 bytes/.test(error.message) &&
        !error.message.includes("tiny-secret"),
    );
    await assert.rejects(
      AuthKey.load(`${dir}/missing.key`),
      /Cannot read the channel auth key: path is ".*missing\.key"/,
    );
    await Deno.mkdir(`${dir}/dir.key`, { mode: 0o700 });
    await assert.rejects(AuthKey.load(`${dir}/dir.key`), /not a regular file/);
  });
});

Deno.test("an auth key prints, inspects and serializes as redacted", async () => {
  await withDir(async (dir) => {
    const key = await writeKey(dir);
    const loaded = await AuthKey.load(key.path);
    for (
      const shown of [
        String(loaded),
        JSON.stringify({ loaded }),
        Deno.inspect(loaded),
        Deno.inspect({ loaded }),
      ]
    ) {
      assert.ok(!shown.includes(key.text.slice(0, 16)), shown);
      assert.match(shown, /redacted/);
    }
  });
});

Deno.test("a connection that does not complete the handshake in time is dropped", async () => {
  await captureLogs(async (records) => {
    await withDir(async (dir) => {
      const key = await writeKey(dir);
      const path = `${dir}/event.sock`;
      const server = await ChannelServer.listen({
        address: { transport: "unix", path },
        keyFile: key.path,
        handler: () => Promise.resolve(),
        handshakeTimeoutMs: 100,
      });
      const conn = await Deno.connect({ transport: "unix", path });
      try {
        const reader = new FrameReader(conn, { maxBytes: 4096 });
        decodeMessage((await reader.read())!, ["challenge"]);
        // Say nothing: the server closes the connection.
        assert.equal(await reader.read(), null);
        await until(() => server.stats.refused === 1, "the refusal");
        assert.ok(
          records.map(text).some((line) =>
            /did not complete the handshake within 100 ms/.test(line)
          ),
        );
      } finally {
        conn.close();
        await server.close();
      }
    });
  });
});

Deno.test("a client of protocol 1 is refused with a line naming the versions", async () => {
  await captureLogs(async (records) => {
    await withDir(async (dir) => {
      const key = await writeKey(dir);
      const path = `${dir}/event.sock`;
      const server = await ChannelServer.listen({
        address: { transport: "unix", path },
        keyFile: key.path,
        handler: () => Promise.resolve(),
      });
      const conn = await Deno.connect({ transport: "unix", path });
      try {
        const reader = new FrameReader(conn, { maxBytes: 4096 });
        decodeMessage((await reader.read())!, ["challenge"]);
        // Protocol 1's hello: a proof of the server challenge and a challenge.
        await conn.write(encodeFrame(JSON.stringify({
          type: "hello",
          version: 1,
          proof: "00".repeat(32),
          challenge: Buffer.alloc(32, 1).toString("base64"),
        })));
        assert.deepEqual(decodeMessage((await reader.read())!, ["refused"]), {
          type: "refused",
          reason: "expected protocol version 2, got 1",
        });
        await until(() => server.stats.refused === 1, "the refusal");
        assert.ok(
          records.map(text).some((line) =>
            /^Refused channel connection #1 on unix:.*: expected protocol version 2, got 1$/
              .test(line)
          ),
        );
      } finally {
        conn.close();
        await server.close();
      }
    });
  });
});
