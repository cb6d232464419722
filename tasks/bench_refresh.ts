/**
 * `deno task bench:refresh [--groups G] [--members M] [--runs N] [--rss-groups A,B] [--no-gssapi]
 *  [--store-sizes GxM,...] [--store-runs N] [--persist-changes N] [--persist-writers W] [--keep]`
 *
 * Loads G workgroups of M members (default 20,000 × 20) into a local stack
 * (`deno task stack up DIR --groups G --members M`) and times, interleaved in
 * the same run, `ldapsearch -E '!sync=ro'` writing to /dev/null (the anchor)
 * against this project's sync client doing the same refresh (every entry
 * decoded, members counted): with a simple bind, then with SASL GSSAPI and
 * the confidentiality layer. Prints both medians, entries per second and the
 * ratio (goal: the client within 1.5× of ldapsearch).
 *
 * Then it measures the client's peak RSS (VmHWM from /proc) doing one
 * refresh in a fresh subprocess, at each size of `--rss-groups` (default
 * 20,000 and 100,000), beside ldapsearch's peak RSS for the same refresh.
 *
 * The client is timed in-process from connect to the end of the refresh;
 * ldapsearch's time is its whole process (start-up is a few milliseconds).
 *
 * The first refresh INTO THE STORE (`--store-sizes`, default 20000x20 and
 * 100000x10): the sync client (simple bind, requesting cn, member and
 * entryCSN as the role does) feeding a {@linkcode WorkgroupApplier} that
 * writes a new store in a temporary directory, timed from connect to the
 * commit of the refresh's cookie, interleaved with ldapsearch requesting the
 * same attributes (goal: within 2×); entries/s, events, store size, and the
 * peak RSS (VmHWM) of one such refresh in a fresh subprocess (goal: under
 * 200 MB at 100,000 workgroups).
 *
 * The role's first refresh as the operator sees it (`--role-runs`, default
 * 3; 0 skips), at each of `--store-sizes` on the same stack right after the
 * store harness: `roles/ldap.ts` as a subprocess with its permissions, from
 * spawn to `READY=1`, beside ldapsearch as whole processes (see
 * `bench_role.ts`), in the `--role-setups` (default operator,simple); goals
 * within 2.5× at 20,000 × 20 and 2× at 100,000 × 10, peak RSS under 200 MB
 * at 100,000.
 *
 * The persist phase (`--persist-changes`, default 10,000; 0 skips): a
 * refreshAndPersist sync into a new store, its outbox pumped over the
 * authenticated channel (Unix socket) to a ChannelServer in this process
 * that acknowledges every event; after the refresh's events are drained,
 * `--persist-writers` ldapmodify processes add one member per modify to the
 * real slapd; the rate is member changes from the start of ldapmodify to the
 * acknowledgement of the last `member.added` event (goal: ≥ 2,000/s), beside
 * ldapmodify's own rate.
 *
 * Goals are printed, never asserted.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { type BindOptions, SyncClient } from "../lib/ldap/mod.ts";
import {
  openStore,
  OutboxPump,
  WorkgroupApplier,
} from "../lib/wgsync_ldap/mod.ts";
import { ChannelClient, ChannelServer } from "../lib/channel/mod.ts";
import type { RoleSetup } from "./bench_role.ts";
import { compareRole } from "./bench_role_compare.ts";
import { adminArgs } from "./stack/ldap_admin.ts";
import type { StackInfo } from "./stack/types.ts";

const USAGE =
  `deno task bench:refresh [options]   (figures beside ldapsearch, goals printed, not asserted)
  --groups G             workgroups of the main stack (default 20000)
  --members M            members per workgroup of the main stack (default 20)
  --runs N               interleaved runs of the client-vs-ldapsearch comparison (default 7)
  --rss-groups A,B       client-only peak RSS at these sizes with M members ("" skips; default 20000,100000)
  --no-gssapi            skip the SASL GSSAPI comparison
  --store-sizes GxM,...  first refresh into the store at these sizes ("" skips; default 20000x20,100000x10)
  --store-runs N         interleaved runs of the store-vs-ldapsearch comparison (default 5)
  --role-runs N          interleaved runs of the role (spawn → READY=1) vs ldapsearch per store size (0 skips; default 3)
  --role-setups A,B      the role's set-ups: operator (StartTLS + GSSAPI + people), simple (default operator,simple)
  --persist-changes N    member additions for the persist-phase throughput (0 skips; default 10000)
  --persist-writers W    parallel ldapmodify processes (default 4)
  --keep                 keep the stack directories
  -h, --help             this text`;
const STACK_CLI = fileURLToPath(new URL("./stack.ts", import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const FILTER = "(objectClass=groupOfNames)";
const ATTRIBUTES = ["cn", "member"];
/** What the role requests: the entryCSN makes the event ids. */
const STORE_ATTRIBUTES = ["cn", "member", "entryCSN"];

interface Target {
  url: string;
  base: string;
  bind: BindOptions;
}

interface Measure {
  ms: number;
  entries: number;
  members: number;
}

function positiveInteger(name: string, value: string): number {
  const number = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(number) || number < 1) {
    throw new Error(`--${name} is "${value}": expected a positive integer`);
  }
  return number;
}

async function run(
  command: string,
  args: string[],
  env?: Record<string, string>,
): Promise<string> {
  const output = await new Deno.Command(command, {
    args,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `${command} ${args.join(" ")} failed (exit ${output.code}): ${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
  return new TextDecoder().decode(output.stdout);
}

async function stackUp(
  dir: string,
  groups: number,
  members: number,
): Promise<StackInfo> {
  console.error(
    `bench: loading ${groups} workgroups × ${members} members into ${dir}`,
  );
  const out = await run(Deno.execPath(), [
    "run",
    "--frozen",
    "--cached-only",
    "--allow-all",
    STACK_CLI,
    "up",
    dir,
    "--groups",
    String(groups),
    "--members",
    String(members),
  ]);
  return JSON.parse(out) as StackInfo;
}

async function stackDown(dir: string, keep: boolean): Promise<void> {
  await run(Deno.execPath(), ["run", "--allow-all", STACK_CLI, "down", dir]);
  if (!keep) await Deno.remove(dir, { recursive: true });
}

function kerberosEnv(stack: StackInfo): Record<string, string> {
  return {
    KRB5_CONFIG: stack.krb5Config,
    KRB5CCNAME: `FILE:${stack.ccaches.ldapClient}`,
  };
}

function ldapsearchArgs(
  stack: StackInfo,
  gssapi: boolean,
  attributes = ATTRIBUTES,
): string[] {
  const auth = gssapi
    ? [
      "-Y",
      "GSSAPI",
      "-N",
      "-Q",
      "-O",
      "minssf=256",
      "-H",
      stack.ldap.gssapiUrl,
    ]
    : adminArgs(stack);
  return [
    ...auth,
    "-b",
    stack.ldap.workgroupBase,
    "-s",
    "one",
    "-E",
    "!sync=ro",
    FILTER,
    ...attributes,
  ];
}

/** Times ldapsearch writing its output to /dev/null. */
async function timeLdapsearch(
  stack: StackInfo,
  gssapi: boolean,
  attributes = ATTRIBUTES,
): Promise<number> {
  const started = performance.now();
  const status = await new Deno.Command("ldapsearch", {
    args: ldapsearchArgs(stack, gssapi, attributes),
    env: gssapi ? kerberosEnv(stack) : undefined,
    stdout: "null",
    stderr: "piped",
  }).output();
  const ms = performance.now() - started;
  if (!status.success) {
    throw new Error(
      `ldapsearch failed: ${new TextDecoder().decode(status.stderr)}`,
    );
  }
  return ms;
}

/** One refresh with the client: connect, bind, decode every entry, count members. */
async function clientRefresh(target: Target): Promise<Measure> {
  const started = performance.now();
  const client = new SyncClient({
    url: target.url,
    bind: target.bind,
    baseDN: target.base,
    scope: "one",
    filter: FILTER,
    attributes: ATTRIBUTES,
    mode: "refreshOnly",
    reconnect: { maxAttempts: 1 },
  });
  let entries = 0;
  let members = 0;
  for await (const message of client.sync()) {
    if (message.kind !== "entry") continue;
    entries++;
    members += message.attributes.member?.length ?? 0;
  }
  await client.close();
  return { ms: performance.now() - started, entries, members };
}

function target(stack: StackInfo, gssapi: boolean): Target {
  return {
    url: gssapi ? stack.ldap.gssapiUrl : stack.ldap.url,
    base: stack.ldap.workgroupBase,
    bind: gssapi
      ? {
        method: "gssapi",
        ccache: stack.ccaches.ldapClient,
        layers: ["confidentiality"],
      }
      : {
        method: "simple",
        dn: stack.ldap.adminDn,
        passwordFile: stack.ldap.adminPasswordFile,
      },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function compare(
  stack: StackInfo,
  gssapi: boolean,
  runs: number,
): Promise<void> {
  const label = gssapi
    ? "SASL GSSAPI, confidentiality layer"
    : "simple bind, no TLS";
  const expected = stack.data.workgroups;
  // One warm-up each: slapd's caches, the JIT, the KDC's service ticket.
  await timeLdapsearch(stack, gssapi);
  await clientRefresh(target(stack, gssapi));
  const anchor: number[] = [];
  const ours: number[] = [];
  for (let i = 0; i < runs; i++) {
    anchor.push(await timeLdapsearch(stack, gssapi));
    const measure = await clientRefresh(target(stack, gssapi));
    if (
      measure.entries !== expected ||
      measure.members !== stack.data.memberValues
    ) {
      throw new Error(
        `the client saw ${measure.entries} entries and ${measure.members} members, expected ${expected} and ${stack.data.memberValues}`,
      );
    }
    ours.push(measure.ms);
  }
  const a = median(anchor);
  const c = median(ours);
  const rate = (ms: number) =>
    Math.round(expected / (ms / 1000)).toLocaleString("en-US");
  console.log(`\n${label}: ${expected} entries, ${runs} interleaved runs`);
  console.log(
    `  ldapsearch -E '!sync=ro' > /dev/null  median ${a.toFixed(1)} ms  ${
      rate(a)
    } entries/s`,
  );
  console.log(
    `  wgsync sync client (decode + count)   median ${c.toFixed(1)} ms  ${
      rate(c)
    } entries/s`,
  );
  console.log(
    `  ratio client/ldapsearch ${
      (c / a).toFixed(2)
    } (goal <= 1.5)  [runs: ldapsearch ${
      anchor.map((v) => v.toFixed(0)).join(" ")
    } | client ${ours.map((v) => v.toFixed(0)).join(" ")}]`,
  );
}

/** VmRSS before and VmHWM after a child's refresh, in KiB. */
interface RssFigures {
  rssBeforeKiB: number;
  hwmKiB: number;
}

/**
 * Runs one refresh in a fresh process of this script (`mode` is `--child` or
 * `--child-store`) and ldapsearch under /usr/bin/time; both peak RSS figures.
 */
async function childAndLdapsearchRss<M>(
  stack: StackInfo,
  mode: string,
  attributes: string[],
): Promise<{ child: M & RssFigures; ldapsearchKiB: number }> {
  const out = await run(Deno.execPath(), [
    "run",
    "--frozen",
    "--cached-only",
    "--allow-all",
    SELF,
    mode,
    JSON.stringify(target(stack, false)),
  ]);
  const time = await new Deno.Command("/usr/bin/time", {
    args: [
      "-f",
      "%M",
      "ldapsearch",
      ...ldapsearchArgs(stack, false, attributes),
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  return {
    child: JSON.parse(out),
    ldapsearchKiB: Number(
      new TextDecoder().decode(time.stderr).trim().split("\n").at(-1),
    ),
  };
}

/** Peak RSS of one client refresh in a fresh process, and of ldapsearch. */
async function peakRss(stack: StackInfo): Promise<void> {
  const { child, ldapsearchKiB } = await childAndLdapsearchRss<Measure>(
    stack,
    "--child",
    ATTRIBUTES,
  );
  const mib = (kib: number) => (kib / 1024).toFixed(1);
  console.log(
    `\npeak RSS at ${stack.data.workgroups} workgroups × ${
      stack.data.memberValues / stack.data.workgroups
    } members (${child.entries} entries, ${child.members} members decoded in ${
      child.ms.toFixed(0)
    } ms):`,
  );
  console.log(
    `  client process VmHWM ${
      mib(child.hwmKiB)
    } MiB (VmRSS after connect+bind, before the refresh: ${
      mib(child.rssBeforeKiB)
    } MiB)`,
  );
  console.log(`  ldapsearch max RSS  ${mib(ldapsearchKiB)} MiB`);
}

function procStatusKiB(field: string): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
  if (!match) throw new Error(`no ${field} in /proc/self/status`);
  return Number(match[1]);
}

/** A first tiny search warms the code paths so VmRSS before the refresh is the base line. */
async function warmUp(t: Target): Promise<void> {
  const warm = new SyncClient({
    url: t.url,
    bind: t.bind,
    baseDN: t.base,
    scope: "base",
    mode: "refreshOnly",
    reconnect: { maxAttempts: 1 },
  });
  for await (const _ of warm.sync()) { /* drain */ }
  await warm.close();
}

async function child(json: string): Promise<void> {
  const t = JSON.parse(json) as Target;
  await warmUp(t);
  const rssBeforeKiB = procStatusKiB("VmRSS");
  const measure = await clientRefresh(t);
  console.log(
    JSON.stringify({
      ...measure,
      rssBeforeKiB,
      hwmKiB: procStatusKiB("VmHWM"),
    }),
  );
}

interface StoreMeasure extends Measure {
  /** Events written to the outbox. */
  events: number;
  /** Store file size after checkpoint and close, in bytes. */
  storeBytes: number;
  /** WAL size at the end of the refresh, in bytes. */
  walBytes: number;
  /** Checkpoint and close after the refresh, in ms (not part of `ms`). */
  closeMs: number;
}

function fileSize(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}

/**
 * One first refresh into a new store: connect, bind, every entry applied by
 * the WorkgroupApplier; `ms` ends when the refresh's cookie is committed.
 */
async function storeRefresh(target: Target): Promise<StoreMeasure> {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-bench-store-" });
  try {
    const path = `${dir}/store.sqlite`;
    const started = performance.now();
    const { store } = openStore(path, {
      identity: { base: target.base, filter: FILTER, bench: true },
    });
    const applier = new WorkgroupApplier(store);
    const client = new SyncClient({
      url: target.url,
      bind: target.bind,
      baseDN: target.base,
      scope: "one",
      filter: FILTER,
      attributes: STORE_ATTRIBUTES,
      mode: "refreshOnly",
      reconnect: { maxAttempts: 1 },
    });
    let entries = 0;
    let events = 0;
    let done = false;
    for await (const message of client.sync()) {
      if (message.kind === "start") {
        applier.endSearch();
        applier.beginSearch();
        continue;
      }
      if (message.kind === "entry") entries++;
      const result = applier.apply(message);
      if (result.kind !== "applied") {
        throw new Error(`the first refresh was not applied: ${result.kind}`);
      }
      events += result.events;
      if (result.refreshDone) done = true;
    }
    const ms = performance.now() - started;
    await client.close();
    if (!done) throw new Error("the refresh did not complete");
    const walBytes = fileSize(`${path}-wal`);
    const closing = performance.now();
    store.close();
    const closeMs = performance.now() - closing;
    return {
      ms,
      entries,
      members: 0,
      events,
      storeBytes: fileSize(path) + fileSize(`${path}-wal`),
      walBytes,
      closeMs,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const mib = (bytes: number) => (bytes / 1048576).toFixed(1);

/** The first refresh into the store beside ldapsearch, interleaved. */
async function compareStore(stack: StackInfo, runs: number): Promise<void> {
  const expected = stack.data.workgroups;
  const t = target(stack, false);
  await timeLdapsearch(stack, false, STORE_ATTRIBUTES);
  await storeRefresh(t);
  const anchor: number[] = [];
  const ours: StoreMeasure[] = [];
  for (let i = 0; i < runs; i++) {
    anchor.push(await timeLdapsearch(stack, false, STORE_ATTRIBUTES));
    const measure = await storeRefresh(t);
    if (measure.entries !== expected || measure.events !== expected) {
      throw new Error(
        `the store refresh saw ${measure.entries} entries and wrote ${measure.events} events, expected ${expected} of each`,
      );
    }
    ours.push(measure);
  }
  const a = median(anchor);
  const c = median(ours.map((m) => m.ms));
  const rate = (ms: number) =>
    Math.round(expected / (ms / 1000)).toLocaleString("en-US");
  const last = ours.at(-1)!;
  console.log(
    `\nfirst refresh INTO THE STORE, simple bind, ${expected} workgroups × ${
      stack.data.memberValues / expected
    } members, ${runs} interleaved runs`,
  );
  console.log(
    `  ldapsearch -E '!sync=ro' cn member entryCSN > /dev/null  median ${
      a.toFixed(1)
    } ms  ${rate(a)} entries/s`,
  );
  console.log(
    `  sync client + WorkgroupApplier → new store             median ${
      c.toFixed(1)
    } ms  ${rate(c)} entries/s`,
  );
  console.log(
    `  ratio store/ldapsearch ${
      (c / a).toFixed(2)
    } (goal <= 2)  [runs: ldapsearch ${
      anchor.map((v) => v.toFixed(0)).join(" ")
    } | store ${ours.map((m) => m.ms.toFixed(0)).join(" ")}]`,
  );
  console.log(
    `  ${last.events} events in the outbox; store ${
      mib(last.storeBytes)
    } MiB after close (WAL at the end of the refresh ${
      mib(last.walBytes)
    } MiB; checkpoint + close afterwards ${last.closeMs.toFixed(0)} ms)`,
  );
}

/** Peak RSS of one first refresh into the store, in a fresh process. */
async function storePeakRss(stack: StackInfo): Promise<void> {
  const { child, ldapsearchKiB } = await childAndLdapsearchRss<StoreMeasure>(
    stack,
    "--child-store",
    STORE_ATTRIBUTES,
  );
  console.log(
    `  peak RSS of a first refresh into the store in a fresh process: VmHWM ${
      mib(child.hwmKiB * 1024)
    } MiB (goal < 200 MB at 100,000 workgroups; VmRSS before the refresh ${
      mib(child.rssBeforeKiB * 1024)
    } MiB; ${child.entries} entries in ${
      child.ms.toFixed(0)
    } ms cold); ldapsearch max RSS ${mib(ldapsearchKiB * 1024)} MiB`,
  );
}

async function childStore(json: string): Promise<void> {
  const t = JSON.parse(json) as Target;
  await warmUp(t);
  const rssBeforeKiB = procStatusKiB("VmRSS");
  const measure = await storeRefresh(t);
  console.log(
    JSON.stringify({
      ...measure,
      rssBeforeKiB,
      hwmKiB: procStatusKiB("VmHWM"),
    }),
  );
}

function groupDn(stack: StackInfo, g: number): string {
  const stems = stack.data.stems;
  return `cn=${stems[g % stems.length]}:group-${
    String(g).padStart(6, "0")
  },${stack.ldap.workgroupBase}`;
}

/**
 * Persist-phase throughput: ldapmodify → slapd → sync client (persist) →
 * applier → outbox → pump → channel → ChannelServer acknowledgement.
 */
async function persistPhase(
  stack: StackInfo,
  changes: number,
  writers: number,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-bench-persist-" });
  const keyFile = `${dir}/auth.key`;
  const key = crypto.getRandomValues(new Uint8Array(32));
  await Deno.writeTextFile(
    keyFile,
    Array.from(key, (b) => b.toString(16).padStart(2, "0")).join(""),
    { mode: 0o600 },
  );
  const t = target(stack, false);
  const { store } = openStore(`${dir}/store.sqlite`, {
    identity: { base: t.base, filter: FILTER, bench: "persist" },
  });
  const applier = new WorkgroupApplier(store);
  const memberEvents = new Set<string>();
  let memberAcked = 0;
  let lastAck = 0;
  const server = await ChannelServer.listen({
    address: { transport: "unix", path: `${dir}/channel.sock` },
    keyFile,
    handler: (event) => {
      if ((event.body as { type?: string }).type === "member.added") {
        memberEvents.add(event.id);
      }
      return Promise.resolve();
    },
  });
  // deno-lint-ignore prefer-const
  let pump: OutboxPump;
  const channel = await ChannelClient.open({
    address: { transport: "unix", path: `${dir}/channel.sock` },
    keyFile,
    connections: 4,
    onAck: (id) => {
      pump.ack(id);
      if (memberEvents.delete(id)) {
        memberAcked++;
        lastAck = performance.now();
      }
    },
  });
  pump = new OutboxPump(store, channel);
  const abort = new AbortController();
  const pumping = pump.run(abort.signal);
  const client = new SyncClient({
    url: t.url,
    bind: t.bind,
    baseDN: t.base,
    scope: "one",
    filter: FILTER,
    attributes: STORE_ATTRIBUTES,
    mode: "refreshAndPersist",
    cookie: () => applier.cookie,
    reconnect: { maxAttempts: 3 },
  });
  const refreshed = Promise.withResolvers<number>();
  const started = performance.now();
  const syncing = (async () => {
    for await (const message of client.sync()) {
      if (message.kind === "start") {
        applier.endSearch();
        applier.beginSearch();
        continue;
      }
      const result = applier.apply(message);
      if (result.kind === "applied" && result.refreshDone) {
        refreshed.resolve(performance.now() - started);
      }
    }
  })();
  syncing.catch((error) => refreshed.reject(error));
  try {
    const refreshMs = await refreshed.promise;
    const drainStart = performance.now();
    while (store.outboxDepth() > 0) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const drainMs = performance.now() - drainStart;
    // Each writer modifies its own workgroups: one member added per modify.
    const groups = stack.data.workgroups;
    const ldifs: string[] = [];
    for (let w = 0; w < writers; w++) {
      const lines: string[] = [];
      for (let c = w; c < changes; c += writers) {
        lines.push(
          `dn: ${groupDn(stack, c % groups)}`,
          "changetype: modify",
          "add: member",
          `member: uid=bench-${c},${stack.ldap.peopleBase}`,
          "",
        );
      }
      const file = `${dir}/writer-${w}.ldif`;
      await Deno.writeTextFile(file, lines.join("\n"));
      ldifs.push(file);
    }
    const t0 = performance.now();
    const modifyMs = await Promise.all(ldifs.map(async (file) => {
      await run("ldapmodify", [...adminArgs(stack), "-f", file]);
      return performance.now() - t0;
    }));
    const ldapmodifyMs = Math.max(...modifyMs);
    const deadline = performance.now() + 120_000;
    while (memberAcked < changes && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2));
    }
    if (memberAcked < changes) {
      throw new Error(
        `only ${memberAcked} of ${changes} member.added events were acknowledged within 120 s`,
      );
    }
    const ackedMs = lastAck - t0;
    const rate = (n: number, ms: number) =>
      Math.round(n / (ms / 1000)).toLocaleString("en-US");
    console.log(
      `\npersist phase: ${changes} member additions by ${writers} ldapmodify processes, ${groups} workgroups, Unix-socket channel (4 connections) to an acknowledging ChannelServer`,
    );
    console.log(
      `  ldapmodify alone (slapd accepting the changes)   ${
        ldapmodifyMs.toFixed(0)
      } ms  ${rate(changes, ldapmodifyMs)} changes/s`,
    );
    console.log(
      `  ldapmodify → acknowledged member.added event     ${
        ackedMs.toFixed(0)
      } ms  ${rate(changes, ackedMs)} changes/s (goal >= 2,000/s)`,
    );
    console.log(
      `  (set-up: the refreshAndPersist refresh into the store took ${
        refreshMs.toFixed(0)
      } ms; its ${groups} workgroup.created events acknowledged in ${
        drainMs.toFixed(0)
      } ms, ${rate(groups, drainMs)} events/s)`,
    );
  } finally {
    abort.abort();
    await client.close();
    await syncing.catch(() => {});
    await pumping.catch(() => {});
    await channel.close();
    await server.close();
    applier.endSearch();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function parseSizes(text: string): { groups: number; members: number }[] {
  if (text === "") return [];
  return text.split(",").map((size) => {
    const [g, m, rest] = size.split("x");
    if (m === undefined || rest !== undefined) {
      throw new Error(
        `--store-sizes has "${size}": expected GROUPSxMEMBERS, e.g. 20000x20`,
      );
    }
    return {
      groups: positiveInteger("store-sizes", g),
      members: positiveInteger("store-sizes", m),
    };
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      groups: { type: "string", default: "20000" },
      members: { type: "string", default: "20" },
      runs: { type: "string", default: "7" },
      "rss-groups": { type: "string", default: "20000,100000" },
      "no-gssapi": { type: "boolean", default: false },
      "store-sizes": { type: "string", default: "20000x20,100000x10" },
      "store-runs": { type: "string", default: "5" },
      "role-runs": { type: "string", default: "3" },
      "role-setups": { type: "string", default: "operator,simple" },
      "persist-changes": { type: "string", default: "10000" },
      "persist-writers": { type: "string", default: "4" },
      keep: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
      child: { type: "string" },
      "child-store": { type: "string" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (values.child !== undefined) return await child(values.child);
  if (values["child-store"] !== undefined) {
    return await childStore(values["child-store"]);
  }
  const storeSizes = parseSizes(values["store-sizes"]);
  const storeRuns = positiveInteger("store-runs", values["store-runs"]);
  const persistChanges = values["persist-changes"] === "0"
    ? 0
    : positiveInteger("persist-changes", values["persist-changes"]);
  const persistWriters = positiveInteger(
    "persist-writers",
    values["persist-writers"],
  );
  const roleRuns = values["role-runs"] === "0"
    ? 0
    : positiveInteger("role-runs", values["role-runs"]);
  const roleSetups = values["role-setups"].split(",").map((setup) => {
    if (setup !== "operator" && setup !== "simple") {
      throw new Error(
        `--role-setups has "${setup}": expected operator or simple`,
      );
    }
    return setup as RoleSetup;
  });
  const firstRefresh = async (stack: StackInfo) => {
    await compareStore(stack, storeRuns);
    await storePeakRss(stack);
    if (roleRuns === 0) return;
    const size = `${stack.data.workgroups}x${
      stack.data.memberValues / stack.data.workgroups
    }`;
    const goal =
      ({ "20000x20": 2.5, "100000x10": 2 } as Record<string, number>)[
        size
      ];
    for (const setup of roleSetups) {
      await compareRole(stack, { setup, runs: roleRuns, goal });
    }
  };
  const groups = positiveInteger("groups", values.groups);
  const members = positiveInteger("members", values.members);
  const runs = positiveInteger("runs", values.runs);
  const rssGroups = values["rss-groups"] === ""
    ? []
    : values["rss-groups"].split(",").map((v) =>
      positiveInteger("rss-groups", v)
    );

  const dirs: string[] = [];
  const stop = async () => {
    for (const dir of dirs.splice(0)) {
      await stackDown(dir, values.keep).catch(() => {});
    }
  };
  const onSignal = () => stop().finally(() => Deno.exit(130));
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    const dir = await Deno.makeTempDir({ prefix: "wgsync-bench-" });
    dirs.push(dir);
    const stack = await stackUp(dir, groups, members);
    Deno.env.set("KRB5_CONFIG", stack.krb5Config);
    await compare(stack, false, runs);
    if (!values["no-gssapi"]) await compare(stack, true, runs);
    for (const size of storeSizes) {
      if (size.groups === groups && size.members === members) {
        await firstRefresh(stack);
        continue;
      }
      const other = await Deno.makeTempDir({ prefix: "wgsync-bench-" });
      dirs.push(other);
      try {
        await firstRefresh(await stackUp(other, size.groups, size.members));
      } finally {
        dirs.splice(dirs.indexOf(other), 1);
        await stackDown(other, values.keep);
      }
    }
    for (const size of rssGroups) {
      if (size === groups) {
        await peakRss(stack);
        continue;
      }
      const other = await Deno.makeTempDir({ prefix: "wgsync-bench-" });
      dirs.push(other);
      try {
        await peakRss(await stackUp(other, size, members));
      } finally {
        dirs.splice(dirs.indexOf(other), 1);
        await stackDown(other, values.keep);
      }
    }
    // Last: it adds members to the main stack's workgroups.
    if (persistChanges > 0) {
      await persistPhase(stack, persistChanges, persistWriters);
    }
  } finally {
    await stop();
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}

await main();
