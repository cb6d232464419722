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
 * Goals are printed, never asserted. The sections are in `bench_refresh/`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { RoleSetup } from "./bench_role.ts";
import { compareRole } from "./bench_role_compare.ts";
import type { StackInfo } from "./stack/types.ts";
import { child, compare, peakRss } from "./bench_refresh/client.ts";
import { positiveInteger, stackDown, stackUp } from "./bench_refresh/common.ts";
import { persistPhase } from "./bench_refresh/persist.ts";
import {
  childStore,
  compareStore,
  storePeakRss,
} from "./bench_refresh/store.ts";

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
