/**
 * `deno task chaos [--runs N] [--changes 5000] [--kills 10] [--pairs 1|2]
 *  [--bulk 3] [--bulk-members 2000] [--outage-ms 30000] [--no-ticket] [--no-renames]
 *  [--seed S] [--dir DIR] [--keep] [--drain-ms 300000]
 *  [--record tasks/BENCHMARKS.md] [--json FILE]`
 *
 * Runs the chaos loop (tasks/chaos/mod.ts) N times in a row on a fresh local
 * stack each time and prints per run: changes made, events delivered,
 * duplicates suppressed, dead letters, kills survived, mismatches of the
 * design's downstream (de-duplicated by id, ordered by csn; must be 0) and,
 * as information, the mismatches of an arrival-order downstream and the csn
 * order violations in arrival order (must be 0 too with one pair: its
 * events of a stem must arrive in order). `--record` adds the runs' table
 * to the file's chaos section (between `<!-- chaos:begin -->` and
 * `<!-- chaos:end -->`; the rest of the file is kept); `--json` writes the
 * reports (tests read them). Exits 1
 * when any run had a mismatch, did not drain, or (one pair) had an order
 * violation.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type ChaosReport, runChaos } from "./chaos/mod.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "1" },
    changes: { type: "string", default: "5000" },
    kills: { type: "string", default: "10" },
    pairs: { type: "string", default: "1" },
    bulk: { type: "string", default: "3" },
    "bulk-members": { type: "string", default: "2000" },
    "outage-ms": { type: "string", default: "30000" },
    "no-ticket": { type: "boolean", default: false },
    "no-renames": { type: "boolean", default: false },
    seed: { type: "string" },
    dir: { type: "string" },
    keep: { type: "boolean", default: false },
    record: { type: "string" },
    json: { type: "string" },
    "drain-ms": { type: "string", default: "300000" },
  },
});

function count(name: string, text: string, min = 0): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    console.error(
      `chaos: --${name} is "${text}": expected an integer of at least ${min}`,
    );
    Deno.exit(2);
  }
  return value;
}

const runs = count("runs", values.runs, 1);
const dir = values.dir ?? await Deno.makeTempDir({ prefix: "wgsync-chaos-" });
const reports: ChaosReport[] = [];
const stop = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    console.error(`chaos: ${signal}: stopping the run and what it started`);
    stop.abort();
  });
}
for (let run = 1; run <= runs; run++) {
  const report = await runChaos({
    dir: `${dir}/run-${run}`,
    changes: count("changes", values.changes, 1),
    kills: count("kills", values.kills),
    pairs: count("pairs", values.pairs, 1),
    bulk: count("bulk", values.bulk),
    bulkMembers: count("bulk-members", values["bulk-members"], 1),
    outageMs: count("outage-ms", values["outage-ms"]),
    expireTicket: !values["no-ticket"],
    renames: !values["no-renames"],
    seed: values.seed === undefined
      ? undefined
      : count("seed", values.seed) + run - 1,
    keep: values.keep,
    drainMs: count("drain-ms", values["drain-ms"], 1),
    signal: stop.signal,
  });
  if (stop.signal.aborted) break;
  reports.push(report);
  console.log(summaryLine(run, report));
  for (const mismatch of report.mismatches.slice(0, 20)) {
    console.log(`  mismatch ${JSON.stringify(mismatch).slice(0, 400)}`);
  }
}
const table = markdown(reports);
console.log(table);
if (values.record !== undefined && reports.length > 0) {
  await record(values.record, table);
}
if (values.json !== undefined) {
  await Deno.writeTextFile(
    values.json,
    JSON.stringify(reports, null, 2) + "\n",
  );
}
const bad = reports.filter((r) =>
  r.mismatches.length > 0 || !r.drained ||
  (r.pairs === 1 && r.orderViolations > 0)
);
Deno.exit(bad.length > 0 ? 1 : 0);

function summaryLine(run: number, r: ChaosReport): string {
  return `chaos run ${run}: seed ${r.seed}, ${r.pairs} pair(s): ${r.driver.changes} changes made, ${r.delivered} events delivered (${r.applied} distinct), ${r.duplicates} duplicates suppressed, ${r.failedCalls} failed calls retried, ${r.deadLetters} dead letters, ${r.killsSurvived} kills survived, faults: ${
    r.faults.map((f) => f.target ? `${f.kind} ${f.target}` : f.kind).join(", ")
  }; ${r.workgroups} workgroups compared, ${r.mismatches.length} mismatches (downstream ordered by csn, ${r.stale} stale events skipped); in arrival order: ${r.arrivalMismatches} mismatches, ${r.orderViolations} csn order violations${
    r.drained ? "" : ", NOT DRAINED"
  } (${Math.round(r.durationMs / 1000)} s)`;
}

function markdown(reports: ChaosReport[]): string {
  const rows = reports.map((r, i) =>
    `| ${
      i + 1
    } | ${r.seed} | ${r.pairs} | ${r.driver.changes} | ${r.delivered} | ${r.duplicates} | ${r.deadLetters} | ${r.killsSurvived} | ${
      r.faults.filter((f) => f.kind !== "kill").map((f) => f.kind).join(", ")
    } | ${
      r.drained ? "yes" : "NO"
    } | ${r.workgroups} | ${r.mismatches.length} (${r.stale} stale skipped) | ${r.arrivalMismatches} | ${r.orderViolations} | ${
      Math.round(r.durationMs / 1000)
    } s |`
  );
  return [
    `Command: \`deno task chaos ${
      Deno.args.join(" ")
    }\` (${reports.length} of ${runs} runs), ${
      new Date().toISOString().slice(0, 16)
    }Z.`,
    "",
    "| run | seed | pairs | changes made | events delivered | duplicates suppressed | dead letters | kills survived | other faults | drained | workgroups compared | mismatches (downstream ordered by csn) | mismatches in arrival order | csn order violations in arrival order | duration |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}

async function record(path: string, table: string): Promise<void> {
  const begin = "<!-- chaos:begin -->";
  const end = "<!-- chaos:end -->";
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  // Each invocation's table is added to the section, so series with
  // different options stand side by side.
  text = from >= 0 && to > from
    ? `${text.slice(0, to)}${table}\n\n${text.slice(to)}`
    : `${text}${
      text === "" ? "" : "\n"
    }## Chaos runs\n\n${begin}\n${table}\n\n${end}\n`;
  await Deno.writeTextFile(path, text);
}
