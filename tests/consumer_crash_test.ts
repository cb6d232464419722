// Crash safety: the consumer's library parts (store, apply, outbox pump,
// channel client) run in a child process that is killed with SIGKILL at
// random points while it applies 1,000 directory changes, then restarted;
// the events delivered over the real channel to this process, de-duplicated
// by id, must rebuild the directory's final memberships exactly.
//
// The directory is simulated here (a deterministic sequence of sync messages
// as the sync client would yield them from slapd: persist-stage changes with
// cookies, and on some restarts a present-phase refresh as after a slapd
// restart). The run against a real slapd comes with roles/ldap.ts.
//
// This file is also the child: `deno run tests/consumer_crash_test.ts --child ...`.
// Needs: read/write in the temp dir, net (the Unix socket), read and run of
// the deno binary (Deno.execPath()); the child gets only its directory and
// its socket.

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import type { SyncMessage } from "../lib/ldap/sync_message.ts";
// The parts the child runs, not the role's whole folder (mod.ts also loads
// the wiring and its metrics): the child starts faster, so more of the
// random kills land amid the changes.
import { openStore } from "../lib/wgsync_ldap/store/mod.ts";
import { OutboxPump } from "../lib/wgsync_ldap/pump.ts";
import { WorkgroupApplier } from "../lib/wgsync_ldap/workgroups.ts";
import { csnFromCookie, type WorkgroupEvent } from "../lib/events/mod.ts";
import { ChannelClient, ChannelServer } from "../lib/channel/mod.ts";
import {
  cookie,
  csn,
  group,
  person,
  reconstruct,
  refreshEnd,
  uuid,
} from "./helpers/consumer.ts";
import { writeKey } from "./helpers/channel.ts";

const CHANGES = 1000;
const FIRST_CHANGE_CSN = 100; // change k carries csn(100 + k); the initial refresh csn(100)

interface Entry {
  n: number;
  name: string;
  members: string[];
  /** The CSN number of the entry's last change. */
  csn: number;
}

type Change = { kind: "add" | "modify"; entry: Entry } | {
  kind: "delete";
  n: number;
};

/** A small deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The simulated directory: the initial workgroups and 1,000 changes. */
function directory(): { initial: Map<number, Entry>; changes: Change[] } {
  const random = prng(0x5eed);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)];
  const pool = Array.from({ length: 100 }, (_, i) => person(`p${i}`));
  const initial = new Map<number, Entry>();
  for (let n = 1; n <= 30; n++) {
    const members = pool.filter(() => random() < 0.06);
    initial.set(n, { n, name: `crash:g${n}`, members, csn: n });
  }
  const state = new Map(
    [...initial].map(([n, e]) => [n, { ...e, members: [...e.members] }]),
  );
  const changes: Change[] = [];
  let next = 31;
  let recreate: string | undefined;
  for (let k = 1; k <= CHANGES; k++) {
    const at = FIRST_CHANGE_CSN + k;
    const r = random();
    const live = [...state.values()];
    if (recreate !== undefined) {
      const entry = {
        n: next++,
        name: recreate,
        members: [pick(pool)],
        csn: at,
      };
      state.set(entry.n, entry);
      changes.push({
        kind: "add",
        entry: { ...entry, members: [...entry.members] },
      });
      recreate = undefined;
      continue;
    }
    let entry: Entry;
    if (r < 0.55 || live.length < 6) {
      entry = pick(live);
      const candidates = pool.filter((dn) => !entry.members.includes(dn));
      entry.members.push(pick(candidates));
    } else if (r < 0.8) {
      entry = pick(live);
      if (entry.members.length > 0) {
        entry.members.splice(Math.floor(random() * entry.members.length), 1);
      }
    } else if (r < 0.86) {
      entry = {
        n: next++,
        name: `crash:n${k}`,
        members: pool.filter(() => random() < 0.05),
        csn: at,
      };
      state.set(entry.n, entry);
      changes.push({
        kind: "add",
        entry: { ...entry, members: [...entry.members] },
      });
      continue;
    } else if (r < 0.95) {
      const victim = pick(live);
      state.delete(victim.n);
      changes.push({ kind: "delete", n: victim.n });
      // Every other deletion is followed by a re-creation of the same name.
      if (r >= 0.905) recreate = victim.name;
      continue;
    } else {
      entry = pick(live);
      entry.name = `crash:r${k}`;
    }
    entry.csn = at;
    changes.push({
      kind: "modify",
      entry: { ...entry, members: [...entry.members] },
    });
  }
  return { initial, changes };
}

/** The directory state after change `k` (0 = initial). */
function stateAt(
  dir: ReturnType<typeof directory>,
  k: number,
): Map<number, Entry> {
  const state = new Map(dir.initial);
  for (const change of dir.changes.slice(0, k)) {
    if (change.kind === "delete") state.delete(change.n);
    else state.set(change.entry.n, change.entry);
  }
  return state;
}

function entryMessage(
  state: "add" | "modify",
  entry: Entry,
  cookieFor?: number,
): SyncMessage {
  return group(state, entry.n, entry.name, entry.members, entry.csn, {
    cookie: cookieFor === undefined ? undefined : cookie(cookieFor),
  });
}

function changeMessage(
  dir: ReturnType<typeof directory>,
  k: number,
): SyncMessage {
  const change = dir.changes[k - 1];
  const at = FIRST_CHANGE_CSN + k;
  if (change.kind === "delete") {
    return {
      kind: "entry",
      state: "delete",
      entryUUID: uuid(change.n),
      dn: "",
      attributes: {},
      cookie: cookie(at),
    };
  }
  return entryMessage(change.kind, change.entry, at);
}

/** The change number the stored cookie reached (read directly: the child is dead). */
function progress(dir: string): number | undefined {
  try {
    const db = new DatabaseSync(`${dir}/store.sqlite`, { readOnly: true });
    try {
      const value = db.prepare(
        "SELECT value FROM meta WHERE key = 'cookie:workgroups'",
      ).get()?.value;
      const at = csnFromCookie(value instanceof Uint8Array ? value : undefined);
      return at === undefined
        ? undefined
        : Number(/\.(\d+)Z/.exec(at)![1]) - FIRST_CHANGE_CSN;
    } finally {
      db.close();
    }
  } catch {
    return undefined;
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

/** Resolves once run `run` of the child wrote `started`, or it exited. */
async function started(
  dir: string,
  run: number,
  exited: Promise<unknown>,
): Promise<void> {
  let done = false;
  exited.finally(() => done = true);
  while (!done) {
    const text = await Deno.readTextFile(`${dir}/started`).catch(() => "");
    if (text === String(run)) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * The child: resume from the stored cookie, apply the rest, deliver
 * everything. Persist-stage changes advance the directory's clock one by one
 * (a change not committed is sent again after a restart, as slapd does);
 * `jump` moves it ahead by that many changes while the child was down.
 */
async function child(
  dir: string,
  socket: string,
  keyFile: string,
  jump: number,
  run: number,
): Promise<void> {
  const sim = directory();
  const { store } = openStore(`${dir}/store.sqlite`, {
    identity: { test: "crash" },
  });
  const applier = new WorkgroupApplier(store, {
    guard: { maxShare: 1 },
    refreshBatchSize: 7,
  });
  // deno-lint-ignore prefer-const
  let pump: OutboxPump;
  const client = await ChannelClient.open({
    address: { transport: "unix", path: socket },
    keyFile,
    connections: 1,
    window: 32,
    reconnect: { minDelay: 10, maxDelay: 50 },
    onAck: (id) => pump.ack(id),
  });
  pump = new OutboxPump(store, client, { ackDelayMs: 5 });
  const abort = new AbortController();
  const pumping = pump.run(abort.signal);

  const stored = store.cookie("workgroups");
  let done = stored === undefined
    ? undefined
    : Number(/\.(\d+)Z/.exec(csnFromCookie(stored)!)![1]) - FIRST_CHANGE_CSN;
  // The directory's clock never goes back: a refresh an earlier run saw (but
  // did not finish) already showed the directory at that point.
  const clock = `${dir}/directory-now`;
  const seen = Number(await Deno.readTextFile(clock).catch(() => "0"));
  const now = Math.min(
    CHANGES,
    Math.max(seen, done === undefined ? 0 : done + jump),
  );
  // Atomically (a kill must not leave an empty clock behind).
  await Deno.writeTextFile(`${clock}.new`, String(now));
  await Deno.rename(`${clock}.new`, clock);
  // Tell the parent this run is past its start (store and channel open).
  await Deno.writeTextFile(`${dir}/started`, String(run));
  applier.beginSearch();
  if (done === undefined) {
    // First start: a full refresh of the directory as it is now.
    for (const entry of stateAt(sim, now).values()) {
      applier.apply(entryMessage("add", entry));
      await tick();
    }
    applier.apply(refreshEnd("present", FIRST_CHANGE_CSN + now));
    done = now;
  } else if (now > done) {
    // Down for a while and slapd restarted: a present phase up to now.
    const before = stateAt(sim, done);
    for (const entry of stateAt(sim, now).values()) {
      const old = before.get(entry.n);
      applier.apply(
        old !== undefined && old.csn === entry.csn
          ? group("present", entry.n, entry.name, [], 0)
          : entryMessage("add", entry),
      );
      await tick();
    }
    applier.apply(refreshEnd("present", FIRST_CHANGE_CSN + now));
    done = now;
  } else {
    // Resumed from the session log: nothing changed meanwhile.
    applier.apply(refreshEnd("delete", FIRST_CHANGE_CSN + done));
  }
  for (let k = done + 1; k <= CHANGES; k++) {
    applier.apply(changeMessage(sim, k));
    await tick();
  }
  while (store.outboxDepth() > 0 || pump.pending > 0) await tick();
  abort.abort();
  await pumping;
  await client.close();
  store.close();
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      child: { type: "boolean" },
      dir: { type: "string" },
      socket: { type: "string" },
      key: { type: "string" },
      jump: { type: "string", default: "0" },
      run: { type: "string", default: "0" },
    },
  });
  if (values.child) {
    await child(
      values.dir!,
      values.socket!,
      values.key!,
      Number(values.jump),
      Number(values.run),
    );
  }
}

Deno.test({
  name:
    "kill -9 at random points during 1,000 changes: the delivered events rebuild the final memberships exactly",
  // The child's leftovers (socket reads) are closed with the server.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "wgsync-crash-test-" });
    const key = await writeKey(dir);
    const socket = `${dir}/event.sock`;
    const delivered: WorkgroupEvent[] = [];
    let server: ChannelServer | undefined;
    const timeline: string[] = [];
    try {
      server = await ChannelServer.listen({
        address: { transport: "unix", path: socket },
        keyFile: key.path,
        handler: (event) => {
          delivered.push(event.body as WorkgroupEvent);
          return Promise.resolve();
        },
      });
      let kills = 0;
      let midway = 0;
      for (let run = 0;; run++) {
        assert.ok(run < 80, `the child did not finish: ${timeline.join(", ")}`);
        const jump = kills % 3 === 1 ? 1 + Math.floor(Math.random() * 40) : 0;
        const process = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            `--allow-read=${dir}`,
            `--allow-write=${dir}`,
            `--allow-net=unix:${socket}`,
            "--quiet",
            "--frozen",
            "--cached-only",
            new URL(import.meta.url).pathname,
            "--child",
            `--dir=${dir}`,
            `--socket=${socket}`,
            `--key=${key.path}`,
            `--jump=${jump}`,
            `--run=${run}`,
          ],
          stdout: "inherit",
          stderr: "inherit",
        }).spawn();
        if (kills < 20) {
          // Two kills in three count from the end of the child's start (a
          // loaded machine may take longer to start it than the delay), the
          // third from its spawn (a kill while it opens the store).
          if (kills % 3 !== 2) await started(dir, run, process.status);
          const delay = 20 + Math.random() * 380;
          const timer = setTimeout(() => {
            try {
              process.kill("SIGKILL");
            } catch {
              // Already exited.
            }
          }, delay);
          const status = await process.status;
          clearTimeout(timer);
          const reached = progress(dir);
          timeline.push(
            `${status.signal ?? status.code}@${Math.round(delay)}ms${
              jump ? `+jump${jump}` : ""
            }→${reached ?? "-"}`,
          );
          if (status.signal === "SIGKILL") {
            kills++;
            if (reached !== undefined && reached > 0 && reached < CHANGES) {
              midway++;
            }
            continue;
          }
          assert.equal(
            status.code,
            0,
            `the child failed: ${timeline.join(", ")}`,
          );
          break;
        }
        const status = await process.status;
        timeline.push(`${status.code}`);
        assert.equal(
          status.code,
          0,
          `the child failed: ${timeline.join(", ")}`,
        );
        break;
      }
      // The final directory, by workgroup name.
      const sim = directory();
      const final = new Map(
        [...stateAt(sim, CHANGES).values()].map((
          entry,
        ) => [entry.name, new Set(entry.members)]),
      );
      const rebuilt = reconstruct(delivered);
      assert.deepEqual(
        rebuilt,
        final,
        `kills and restarts: ${timeline.join(", ")}`,
      );
      const ids = new Set(delivered.map((e) => e.id));
      console.log(`    ${timeline.join(" ")}`);
      console.log(
        `    ${kills} kills (${midway} amid the changes), ${timeline.length} runs, ${delivered.length} deliveries of ${ids.size} events (${
          delivered.length - ids.size
        } re-sent), ${final.size} workgroups`,
      );
      assert.ok(
        midway >= 5,
        `too few kills landed amid the changes (${timeline.join(", ")})`,
      );
      // Everything delivered was acknowledged: the outbox is empty, the cookie final.
      const { store } = openStore(`${dir}/store.sqlite`, {
        identity: { test: "crash" },
      });
      assert.equal(store.outboxDepth(), 0);
      assert.equal(
        csnFromCookie(store.cookie("workgroups")),
        csn(FIRST_CHANGE_CSN + CHANGES),
      );
      store.close();
    } finally {
      await server?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
