/**
 * The child of the crash test (tests/consumer_crash_test.ts), which kills it
 * with SIGKILL at random points: `deno run
 * tests/helpers/consumer_crash_child.ts --child ...` resumes from the stored
 * cookie, applies the rest of the simulated directory's changes and delivers
 * every event over the channel. {@linkcode progress} and
 * {@linkcode started} are how the parent follows it.
 *
 * Needs: read/write in the test's directory and net (its Unix socket), which
 * is all the parent grants it.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
// The parts the child runs, not the role's whole folder (mod.ts also loads
// the wiring and its metrics): the child starts faster, so more of the
// random kills land amid the changes.
import { openStore } from "../../lib/wgsync_ldap/store/mod.ts";
import { OutboxPump } from "../../lib/wgsync_ldap/pump.ts";
import { WorkgroupApplier } from "../../lib/wgsync_ldap/workgroups.ts";
import { csnFromCookie } from "../../lib/events/mod.ts";
import { ChannelClient } from "../../lib/channel/mod.ts";
import { group, refreshEnd } from "./consumer.ts";
import {
  changeMessage,
  CHANGES,
  directory,
  entryMessage,
  FIRST_CHANGE_CSN,
  stateAt,
} from "./consumer_crash_directory.ts";

/** The change number the stored cookie reached (read directly: the child is dead). */
export function progress(dir: string): number | undefined {
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
export async function started(
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
