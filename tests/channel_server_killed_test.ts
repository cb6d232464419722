// A server process killed with SIGKILL while a client process streams: the
// client must only reconnect and re-send. Both ends are real processes on a
// Unix socket in a temporary directory (tests/helpers/channel_process.ts).

import assert from "node:assert/strict";
import {
  ChannelProcess,
  type ClientSummary,
} from "./helpers/channel_process.ts";
import { withDir, within, writeKey } from "./helpers/channel.ts";

Deno.test("a server killed with SIGKILL mid-stream only makes the client reconnect and re-send; nothing is lost", async () => {
  await withDir(async (dir) => {
    const key = await writeKey(dir);
    const path = `${dir}/event.sock`;
    const events = 20_000;
    const startServer = async () => {
      const server = new ChannelProcess("server", [path, key.path]);
      await within(server.waitLine(/^listening$/), "the server to listen");
      return server;
    };
    let server = await startServer();
    const client = new ChannelProcess("client", [
      path,
      key.path,
      String(events),
    ]);
    try {
      for (const acked of [2000, 8000, 14000]) {
        await within(
          client.waitLine(new RegExp(`^acked ${acked}$`)),
          `${acked} acknowledgements`,
          60_000,
        );
        server.kill("SIGKILL");
        assert.equal((await server.status()).signal, "SIGKILL");
        server = await startServer();
      }
      const status = await within(client.status(), "the client's end", 60_000);
      assert.deepEqual(
        { code: status.code, lines: client.lines.length > 0 },
        { code: 0, lines: true },
        `the client process survived (last lines: ${
          client.lines.slice(-3).join(" | ")
        })`,
      );
      const summary = JSON.parse(client.lines.at(-1)!) as ClientSummary;
      assert.deepEqual(summary, {
        submitted: events,
        acked: events,
        pending: [],
        unexpected: [],
      });
    } finally {
      client.kill("SIGKILL");
      server.kill("SIGKILL");
      await client.status();
      await server.status();
    }
  });
});
