/**
 * The chaos run's short mode (`deno task chaos`, tasks/chaos/mod.ts) on real
 * parts: a local stack (slapd, MIT KDC, k5start, remctld, moto), wgsync-ldap,
 * wgsync-event and wgsync-remctl as subprocesses with their own permissions.
 * 500 random directory changes (one bulk modify of 300 members), 3 SIGKILLs
 * of random roles, moto frozen and slapd stopped once each (3–10 s, shorter
 * than the full run's 10–30 s), the ticket cache expired once; the
 * memberships rebuilt from the demo backend's calls must equal slapd's, in
 * csn order. Like the stack itself, the run is a `deno run -A` subprocess.
 *
 * The comparison itself is shown to fail on a dropped event in
 * chaos_check_test.ts.
 */
import assert from "node:assert/strict";
import type { ChaosReport } from "../tasks/chaos/mod.ts";

const ROOT = new URL("../", import.meta.url).pathname;

// Not part of the default run while two defects the chaos runs found are
// open (issue 13's note), which make the rebuild report mismatches in most
// runs: a rename's new name is another SNS FIFO group, so events of the old
// name can run after the rename (D1, a design decision); and moto hands out
// later messages of a FIFO group while an earlier one is in flight (AWS
// blocks the group), so a message held by a wgsync-remctl killed with SIGKILL
// comes back after its visibility timeout behind its group's later messages
// (seen: a member.added of seq 55 run 30 s after seq 56–59, a deletion among
// them). Run it with WGSYNC_CHAOS_TEST=1.
Deno.test({
  name:
    "chaos short mode: 500 changes and 3 kills lose nothing and keep csn order",
  ignore: Deno.env.get("WGSYNC_CHAOS_TEST") !== "1",
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-chaos-test-" });
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--frozen",
        "--cached-only",
        "--allow-all",
        "--config",
        `${ROOT}deno.json`,
        `${ROOT}tasks/chaos.ts`,
        "--dir",
        dir,
        "--changes",
        "500",
        "--kills",
        "3",
        "--bulk",
        "1",
        "--bulk-members",
        "300",
        "--outage-ms",
        "10000",
        "--drain-ms",
        "240000",
        "--json",
        `${dir}/report.json`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = await Deno.readTextFile(`${dir}/report.json`).catch(() => {
      throw new Error(
        `deno task chaos wrote no report (exit ${output.code}): ${
          new TextDecoder().decode(output.stderr)
        }`,
      );
    });
    const [report] = JSON.parse(text) as ChaosReport[];
    const summary = {
      drained: report.drained,
      kills: report.faults.filter((f) => f.kind === "kill" && f.target).length,
      otherFaults: report.faults.filter((f) => f.kind !== "kill").map((f) =>
        f.kind
      ).sort(),
      mismatches: report.mismatches,
      orderViolations: report.orderViolations,
      deadLetters: report.deadLetters,
    };
    assert.deepEqual(summary, {
      drained: true,
      kills: 3,
      otherFaults: ["moto frozen", "slapd stopped", "ticket expired"],
      mismatches: [],
      orderViolations: 0,
      deadLetters: 0,
    }, `seed ${report.seed}: ${new TextDecoder().decode(output.stdout)}`);
    assert.ok(
      report.driver.changes > 0 && report.delivered > report.driver.changes / 2,
      `changes ${report.driver.changes}, delivered ${report.delivered}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
