/**
 * The chaos run's short mode (tasks/chaos/mod.ts) on real parts: a local
 * stack (slapd, MIT KDC, k5start, remctld, moto), wgsync-ldap, wgsync-event
 * and wgsync-remctl as subprocesses with their own permissions. 500 random
 * directory changes (one bulk modify of 300 members), 3 SIGKILLs of random
 * roles, moto frozen and slapd stopped (4–10 s each, shorter than the full
 * run's 10–30 s), the ticket cache expired once; the memberships rebuilt
 * from the demo backend's calls must equal slapd's, in csn order.
 *
 * The comparison itself is shown to fail on a dropped event in
 * chaos_check_test.ts.
 */
import assert from "node:assert/strict";
import { runChaos } from "../tasks/chaos/mod.ts";

Deno.test({
  name:
    "chaos short mode: 500 changes and 3 kills lose nothing and keep csn order",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-chaos-test-" });
  try {
    const report = await runChaos({
      dir,
      changes: 500,
      kills: 3,
      bulk: 1,
      bulkMembers: 300,
      outageMs: 10_000,
      drainMs: 240_000,
      log: () => {},
    });
    const summary = {
      drained: report.drained,
      changesMade: report.driver.changes > 450,
      kills: report.faults.filter((f) => f.kind === "kill").length,
      otherFaults: report.faults.filter((f) => f.kind !== "kill").map((f) =>
        f.kind
      ).sort(),
      mismatches: report.mismatches,
      orderViolations: report.orderViolations,
      deadLetters: report.deadLetters,
    };
    assert.deepEqual(summary, {
      drained: true,
      changesMade: true,
      kills: 3,
      otherFaults: ["moto frozen", "slapd stopped", "ticket expired"],
      mismatches: [],
      orderViolations: 0,
      deadLetters: 0,
    }, `seed ${report.seed}`);
    assert.ok(report.delivered > 0 && report.workgroups > 0);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
