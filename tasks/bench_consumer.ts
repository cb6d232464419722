/**
 * Benchmark of the LDAP Consumer's library parts (no LDAP server involved):
 *
 * - store: a first refresh of G workgroups × M members applied to a fresh
 *   store (entries/s, peak RSS from /proc/self/status VmHWM, store size),
 *   beside an anchor: the same rows inserted with bare node:sqlite.
 * - persist: member changes applied one transaction each, pumped from the
 *   outbox over the channel (Unix socket) and acknowledged by a server in the
 *   same process (changes/s acknowledged).
 * - channel: events/s acknowledged over the Unix socket, beside an anchor:
 *   the same bytes written through a bare Unix socket.
 *
 * Each scenario runs in its own process so VmHWM is its own.
 *
 *   deno run --allow-all tasks/bench_consumer.ts
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DatabaseSync } from "node:sqlite";
import type { SyncMessage } from "../lib/ldap/sync_message.ts";
import {
  openStore,
  OutboxPump,
  WorkgroupApplier,
} from "../lib/wgsync_ldap/mod.ts";
import {
  ChannelClient,
  ChannelServer,
  encodeFrame,
} from "../lib/channel/mod.ts";

const args = parseArgs({
  options: {
    scenario: { type: "string" },
    groups: { type: "string", default: "20000" },
    members: { type: "string", default: "20" },
    changes: { type: "string", default: "20000" },
    events: { type: "string", default: "100000" },
    connections: { type: "string", default: "4" },
    "page-size": { type: "string", default: "8192" },
  },
});

function vmHwmKb(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

function uuid(i: number): string {
  const h = i.toString(16).padStart(32, "0");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${
    h.slice(16, 20)
  }-${h.slice(20)}`;
}

function csn(i: number): string {
  return `20250101000000.${String(i).padStart(6, "0")}Z#000000#000#000000`;
}

const enc = new TextEncoder();
const pageSize = Number(args.values["page-size"]);

function memberDns(i: number, m: number): string[] {
  const out = new Array<string>(m);
  for (let j = 0; j < m; j++) {
    out[j] = `uid=user${(i * 7 + j) % 200000},ou=people,dc=example,dc=org`;
  }
  return out;
}

function* refreshMessages(
  groups: number,
  members: number,
): Generator<SyncMessage> {
  for (let i = 0; i < groups; i++) {
    const name = `stem${i % 100}:group${i}`;
    yield {
      kind: "entry",
      state: "add",
      entryUUID: uuid(i),
      dn: `cn=${name},ou=groups,dc=example,dc=org`,
      attributes: {
        cn: [name],
        member: memberDns(i, members),
        entrycsn: [csn(i)],
      },
    };
  }
  yield {
    kind: "refreshEnd",
    phase: "present",
    refreshDone: true,
    refreshDeletes: false,
    cookie: enc.encode(`rid=000,csn=${csn(groups)}`),
  };
}

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "wgsync-bench-" });
}

function sizeOf(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}

async function scenarioStore(groups: number, members: number) {
  const dir = await tempDir();
  try {
    // Anchor: the same rows with bare node:sqlite, one transaction.
    const anchorPath = `${dir}/anchor.sqlite`;
    const db = new DatabaseSync(anchorPath);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec(
      "CREATE TABLE t (u TEXT PRIMARY KEY, dn TEXT, name TEXT, members TEXT)",
    );
    const ins = db.prepare("INSERT INTO t VALUES (?, ?, ?, ?)");
    let t0 = performance.now();
    db.exec("BEGIN");
    for (let i = 0; i < groups; i++) {
      const name = `stem${i % 100}:group${i}`;
      ins.run(
        uuid(i),
        `cn=${name},ou=groups,dc=example,dc=org`,
        name,
        JSON.stringify(memberDns(i, members)),
      );
    }
    db.exec("COMMIT");
    const anchorMs = performance.now() - t0;
    db.close();

    const path = `${dir}/store.sqlite`;
    const { store } = openStore(path, { identity: { bench: true }, pageSize });
    const applier = new WorkgroupApplier(store);
    t0 = performance.now();
    applier.beginSearch();
    let events = 0;
    for (const message of refreshMessages(groups, members)) {
      const result = applier.apply(message);
      if (result.kind === "applied") events += result.events;
    }
    const applyMs = performance.now() - t0;
    const walPeak = sizeOf(`${path}-wal`);
    t0 = performance.now();
    store.checkpoint();
    const checkpointMs = performance.now() - t0;
    const depth = store.outboxDepth();
    t0 = performance.now();
    store.close();
    const closeMs = performance.now() - t0;
    const size = sizeOf(path);
    t0 = performance.now();
    const reopened = openStore(path, { identity: { bench: true } });
    const openMs = performance.now() - t0;
    reopened.store.close();
    return {
      scenario: `store ${groups}×${members}`,
      applyMs: Math.round(applyMs),
      entriesPerSecond: Math.round(groups / (applyMs / 1000)),
      anchorBareSqliteMs: Math.round(anchorMs),
      events,
      outboxDepth: depth,
      storeMb: Math.round(size / 1048576),
      walPeakMb: Math.round(walPeak / 1048576),
      checkpointMs: Math.round(checkpointMs),
      closeMs: Math.round(closeMs),
      reopenIntegrityCheckMs: Math.round(openMs),
      peakRssMb: Math.round(vmHwmKb() / 1024),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function writeKey(dir: string): Promise<string> {
  const keyFile = `${dir}/auth.key`;
  const key = crypto.getRandomValues(new Uint8Array(32));
  await Deno.writeTextFile(
    keyFile,
    Array.from(key, (b) => b.toString(16).padStart(2, "0")).join(""),
    { mode: 0o600 },
  );
  return keyFile;
}

async function scenarioChannel(events: number, connections: number) {
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

async function scenarioPersist(changes: number, connections: number) {
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

async function child(): Promise<unknown> {
  switch (args.values.scenario) {
    case "store":
      return await scenarioStore(
        Number(args.values.groups),
        Number(args.values.members),
      );
    case "channel":
      return await scenarioChannel(
        Number(args.values.events),
        Number(args.values.connections),
      );
    case "persist":
      return await scenarioPersist(
        Number(args.values.changes),
        Number(args.values.connections),
      );
    default:
      throw new Error(
        `Cannot run the benchmark as the scenario is unknown: scenario is "${args.values.scenario}", expected store, channel or persist`,
      );
  }
}

if (import.meta.main) {
  if (args.values.scenario !== undefined) {
    console.log(JSON.stringify(await child()));
  } else {
    const runs = [
      ["--scenario", "store", "--groups", "20000", "--members", "20"],
      ["--scenario", "store", "--groups", "100000", "--members", "10"],
      ["--scenario", "persist", "--changes", "20000", "--connections", "4"],
      ["--scenario", "channel", "--events", "100000", "--connections", "4"],
      ["--scenario", "channel", "--events", "100000", "--connections", "1"],
    ];
    console.log(
      "Goals (issue 5): first refresh within 2x of ldapsearch (ENVIRONMENT.md anchor: about 129,000 entries/s, 20k groups in about 155 ms, measured by bench:refresh); >= 2,000 member changes/s acknowledged; RSS < 200 MB at 100,000 workgroups.",
    );
    console.log(
      "Anchors: anchorBareSqliteMs = the same rows inserted by bare node:sqlite in one transaction; anchorBareSocket = the same bytes through a bare Unix socket (no framing, auth, acks).",
    );
    for (const run of runs) {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", "--quiet", import.meta.filename!, ...run],
        stdout: "piped",
        stderr: "inherit",
      }).output();
      if (!output.success) {
        console.log(`${run.join(" ")}: failed with exit code ${output.code}`);
        continue;
      }
      const result = JSON.parse(new TextDecoder().decode(output.stdout));
      console.log(
        Object.entries(result).map(([k, v]) => `${k}=${v}`).join("  "),
      );
    }
  }
}
