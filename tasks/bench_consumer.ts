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
 * Each scenario runs in its own process so VmHWM is its own. The scenarios
 * are in `bench_consumer/`.
 *
 *   deno run --allow-all tasks/bench_consumer.ts
 *
 * @module
 */

import { parseArgs } from "node:util";
import { scenarioChannel } from "./bench_consumer/channel.ts";
import { scenarioPersist } from "./bench_consumer/persist.ts";
import { scenarioStore } from "./bench_consumer/store.ts";

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

const pageSize = Number(args.values["page-size"]);

async function child(): Promise<unknown> {
  switch (args.values.scenario) {
    case "store":
      return await scenarioStore(
        Number(args.values.groups),
        Number(args.values.members),
        { pageSize },
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
