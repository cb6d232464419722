/**
 * The persist scenario of `tasks/bench_consumer.ts`: member changes applied
 * one transaction each, pumped from the outbox over the channel (Unix
 * socket) and acknowledged by a server in the same process.
 *
 * @module
 */

import {
  openStore,
  OutboxPump,
  WorkgroupApplier,
} from "../../lib/wgsync_ldap/mod.ts";
import { ChannelClient, ChannelServer } from "../../lib/channel/mod.ts";
import {
  csn,
  enc,
  memberDns,
  refreshMessages,
  tempDir,
  uuid,
  vmHwmKb,
  writeKey,
} from "./data.ts";

/** The persist scenario: member changes one transaction each, pumped and acknowledged. */
export async function scenarioPersist(changes: number, connections: number) {
  const dir = await tempDir();
  try {
    const keyFile = await writeKey(dir);
    const groups = 1000;
    const { store } = openStore(`${dir}/store.sqlite`, {
      identity: { bench: true },
    });
    const applier = new WorkgroupApplier(store);
    applier.beginSearch();
    for (const message of refreshMessages(groups, 20)) applier.apply(message);
    const path = `${dir}/channel.sock`;
    const server = await ChannelServer.listen({
      address: { transport: "unix", path },
      keyFile,
      handler: () => Promise.resolve(),
    });
    let acked = 0;
    // deno-lint-ignore prefer-const
    let pump: OutboxPump;
    const client = await ChannelClient.open({
      address: { transport: "unix", path },
      keyFile,
      connections,
      onAck: (id) => {
        acked++;
        pump.ack(id);
      },
    });
    pump = new OutboxPump(store, client);
    const abort = new AbortController();
    // Drain the refresh's created events first.
    const running = pump.run(abort.signal);
    await client.waitConnected();
    while (store.outboxDepth() > 0) await new Promise((r) => setTimeout(r, 10));
    const base = acked;
    const current = new Map<number, string[]>();
    for (let i = 0; i < groups; i++) current.set(i, memberDns(i, 20));
    const t0 = performance.now();
    for (let c = 0; c < changes; c++) {
      const i = c % groups;
      const values = current.get(i)!;
      values.push(`uid=new${c},ou=people,dc=example,dc=org`);
      const name = `stem${i % 100}:group${i}`;
      applier.apply({
        kind: "entry",
        state: "modify",
        entryUUID: uuid(i),
        dn: `cn=${name},ou=groups,dc=example,dc=org`,
        attributes: {
          cn: [name],
          member: values,
          entrycsn: [csn(groups + c + 1)],
        },
        cookie: enc.encode(`rid=000,csn=${csn(groups + c + 1)}`),
      });
      // Let the pump and the channel run as a live role would between messages.
      if (c % 64 === 63) await new Promise((r) => setTimeout(r, 0));
    }
    const appliedMs = performance.now() - t0;
    while (acked - base < changes) await new Promise((r) => setTimeout(r, 1));
    const ms = performance.now() - t0;
    abort.abort();
    await running;
    await client.close();
    await server.close();
    store.close();
    return {
      scenario: `persist ${changes} member changes, ${connections} connections`,
      appliedMs: Math.round(appliedMs),
      ackedMs: Math.round(ms),
      changesAckedPerSecond: Math.round(changes / (ms / 1000)),
      peakRssMb: Math.round(vmHwmKb() / 1024),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
