/**
 * The channel scenario of `tasks/bench_consumer.ts`: events acknowledged per
 * second over the Unix socket, beside the same bytes written through a bare
 * Unix socket.
 *
 * @module
 */

import {
  ChannelClient,
  ChannelServer,
  encodeFrame,
} from "../../lib/channel/mod.ts";
import { csn, tempDir, vmHwmKb, writeKey } from "./data.ts";

/** The channel scenario: events acknowledged over the Unix socket beside a bare socket. */
export async function scenarioChannel(events: number, connections: number) {
  const dir = await tempDir();
  try {
    const keyFile = await writeKey(dir);
    const body = JSON.stringify({
      v: 1,
      type: "member.added",
      workgroup: "stem:group",
      stem: "stem",
      member: {
        dn: "uid=user1,ou=people,dc=example,dc=org",
        id: "user1",
        uid: "user1",
      },
      csn: csn(1),
      seq: 1,
      observedAt: new Date().toISOString(),
    });
    // Anchor: the same bytes through a bare Unix socket.
    const frameBytes = encodeFrame(
      `{"type":"event","id":"${
        "0".repeat(64)
      }","workgroup":"stem:group0000","body":${body}}`,
    ).length;
    const anchorPath = `${dir}/anchor.sock`;
    const listener = Deno.listen({ transport: "unix", path: anchorPath });
    const total = frameBytes * events;
    let t0 = performance.now();
    const reading = (async () => {
      const conn = await listener.accept();
      const buf = new Uint8Array(256 * 1024);
      let got = 0;
      while (got < total) {
        const n = await conn.read(buf);
        if (n === null) break;
        got += n;
      }
      conn.close();
    })();
    const conn = await Deno.connect({ transport: "unix", path: anchorPath });
    const chunk = new Uint8Array(frameBytes * 256);
    let sent = 0;
    while (sent < total) {
      const n = Math.min(chunk.length, total - sent);
      let w = 0;
      while (w < n) w += await conn.write(chunk.subarray(w, n));
      sent += n;
    }
    await reading;
    conn.close();
    listener.close();
    const anchorMs = performance.now() - t0;

    const path = `${dir}/channel.sock`;
    let handled = 0;
    const server = await ChannelServer.listen({
      address: { transport: "unix", path },
      keyFile,
      handler: () => {
        handled++;
        return Promise.resolve();
      },
    });
    let acked = 0;
    const client = await ChannelClient.open({
      address: { transport: "unix", path },
      keyFile,
      connections,
      onAck: () => acked++,
    });
    await client.waitConnected();
    t0 = performance.now();
    for (let i = 0; i < events; i++) {
      await client.submit({
        id: i.toString(16).padStart(64, "0"),
        workgroup: `stem:group${i % 1000}`,
        body,
      });
    }
    await client.drained();
    const ms = performance.now() - t0;
    await client.close();
    await server.close();
    return {
      scenario: `channel ${events} events, ${connections} connections`,
      ms: Math.round(ms),
      ackedEventsPerSecond: Math.round(acked / (ms / 1000)),
      handled,
      anchorBareSocketMs: Math.round(anchorMs),
      anchorEventsPerSecond: Math.round(events / (anchorMs / 1000)),
      peakRssMb: Math.round(vmHwmKb() / 1024),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
