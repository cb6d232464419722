/**
 * Summarises a V8 CPU profile (`deno run --cpu-prof` writes `*.cpuprofile`):
 * self time by function and by file, and the inclusive time of the
 * functions named with `--focus`.
 *
 *   deno run -R tasks/cpu_profile.ts FILE.cpuprofile [--top N] [--focus NAME,...]
 *
 * Self time of a node is its sample count times the mean sampling interval;
 * `--from`/`--until` keep the samples in that window (ms since the profile
 * started); `--mark NAME` prints when NAME was first sampled; `--callers
 * NAME,...` splits those functions' self time by their callers (for native
 * functions such as node:sqlite's `run` and `get`).
 * `(idle)` is time the thread waited in the event loop, `(program)` native
 * work outside JavaScript (I/O, SQLite through node:sqlite, FFI calls made
 * from the runtime), `(garbage collector)` the GC.
 *
 * @module
 */

import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  callFrame: {
    functionName: string;
    url: string;
    lineNumber: number;
  };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function shortUrl(url: string): string {
  const cwd = `file://${Deno.cwd()}/`;
  if (url.startsWith(cwd)) return url.slice(cwd.length);
  const npm = /\/npm\/registry\.npmjs\.org\/(.+)$/.exec(url);
  return npm ? `npm:${npm[1]}` : url.replace(/^ext:/, "ext:");
}

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName || "(anonymous)";
  return url === "" ? name : `${name} ${shortUrl(url)}:${lineNumber + 1}`;
}

function table(rows: [string, number][], total: number, top: number): void {
  for (const [name, ms] of rows.slice(0, top)) {
    console.log(
      `  ${ms.toFixed(1).padStart(8)} ms ${
        (100 * ms / total).toFixed(1).padStart(5)
      } %  ${name}`,
    );
  }
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      top: { type: "string", default: "30" },
      focus: { type: "string", default: "" },
      from: { type: "string", default: "0" },
      until: { type: "string", default: "Infinity" },
      mark: { type: "string", default: "" },
      callers: { type: "string", default: "" },
    },
  });
  if (positionals.length !== 1) {
    console.error(
      "usage: deno run -R tasks/cpu_profile.ts FILE.cpuprofile [--top N] [--focus NAME,...]",
    );
    Deno.exit(64);
  }
  const top = Number(values.top);
  const profile = JSON.parse(Deno.readTextFileSync(positionals[0])) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const selfMs = new Map<number, number>();
  const from = Number(values.from);
  const until = Number(values.until);
  let at = 0;
  let total = 0;
  const marks = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] / 1000;
    const delta = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const id = profile.samples[i];
    const name = byId.get(id)!.callFrame.functionName;
    if (values.mark !== "" && name === values.mark && !marks.has(name)) {
      marks.set(name, at);
    }
    if (at < from || at >= until) continue;
    total += delta;
    selfMs.set(id, (selfMs.get(id) ?? 0) + delta);
  }
  for (const [name, ms] of marks) {
    console.log(`first sample in ${name} at ${ms.toFixed(0)} ms`);
  }
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const focus = values.focus === "" ? [] : values.focus.split(",");
  const callees = values.callers === "" ? [] : values.callers.split(",");
  const callers = new Map<string, number>();
  for (const [id, ms] of selfMs) {
    const node = byId.get(id)!;
    const name = frameName(node);
    byFunction.set(name, (byFunction.get(name) ?? 0) + ms);
    const file = node.callFrame.url === ""
      ? node.callFrame.functionName
      : shortUrl(node.callFrame.url);
    byFile.set(file, (byFile.get(file) ?? 0) + ms);
    if (callees.includes(node.callFrame.functionName)) {
      const up = parent.get(id);
      const label = `${name} ← ${
        up === undefined ? "-" : frameName(byId.get(up)!)
      }`;
      callers.set(label, (callers.get(label) ?? 0) + ms);
    }
    // Inclusive time of focused functions: count each sample once per name on its stack.
    const seen = new Set<string>();
    for (
      let at: number | undefined = id;
      at !== undefined;
      at = parent.get(at)
    ) {
      const frame = byId.get(at)!;
      const label = frame.callFrame.functionName;
      if (focus.includes(label) && !seen.has(label)) {
        seen.add(label);
        inclusive.set(label, (inclusive.get(label) ?? 0) + ms);
      }
    }
  }
  const sorted = (map: Map<string, number>) =>
    [...map].sort((a, b) => b[1] - a[1]);
  console.log(
    `profile: ${total.toFixed(0)} ms, ${profile.samples.length} samples`,
  );
  console.log("\nself time by function:");
  table(sorted(byFunction), total, top);
  console.log("\nself time by file:");
  table(sorted(byFile), total, top);
  if (callees.length > 0) {
    console.log("\nself time by caller:");
    table(sorted(callers), total, top);
  }
  if (focus.length > 0) {
    console.log("\ninclusive time:");
    table(sorted(inclusive), total, top);
  }
}
