/**
 * The first refresh into the store in `deno task bench:refresh`: the sync
 * client feeding a WorkgroupApplier that writes a new store, timed to the
 * commit of the refresh's cookie beside ldapsearch requesting the same
 * attributes; events, store size, and its peak RSS in a fresh process.
 *
 * @module
 */

import { SyncClient } from "../../lib/ldap/mod.ts";
import { openStore, WorkgroupApplier } from "../../lib/wgsync_ldap/mod.ts";
import type { StackInfo } from "../stack/types.ts";
import {
  FILTER,
  type Measure,
  median,
  STORE_ATTRIBUTES,
  type Target,
  target,
  timeLdapsearch,
} from "./common.ts";
import { childAndLdapsearchRss, procStatusKiB, warmUp } from "./rss.ts";

export interface StoreMeasure extends Measure {
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
export async function storeRefresh(target: Target): Promise<StoreMeasure> {
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
export async function compareStore(
  stack: StackInfo,
  runs: number,
): Promise<void> {
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
export async function storePeakRss(stack: StackInfo): Promise<void> {
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

/** The `--child-store` process: one store refresh; prints its measure and RSS figures as JSON. */
export async function childStore(json: string): Promise<void> {
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
