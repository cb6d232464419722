/**
 * How the outcome of a workgroup refresh reaches the operator: a completed
 * refresh is logged with its counts and timed in the metrics, a mass deletion
 * let through once by `--accept-mass-delete` is a warning, and a refused one
 * is logged at critical, counted, and shown in `STATUS=` until a restart.
 *
 * @module
 */

import { getLogger } from "../log/mod.ts";
import type { GuardVerdict } from "./guard.ts";
import type { LdapMetrics } from "./metrics.ts";
import type { Supervision } from "./supervision.ts";
import type { Applied } from "./workgroups.ts";

const log = getLogger("ldap");

/** Where a refresh's outcome is reported. */
export interface RefreshReportTargets {
  /** The role's metrics. */
  metrics: LdapMetrics;
  /** `STATUS=` and the last change. */
  supervision: Supervision;
}

/** A completed refresh, for {@linkcode reportRefresh}. */
export interface RefreshReport extends RefreshReportTargets {
  /** Milliseconds since the search started. */
  duration: number;
  /** How the provider ended the refresh: "present" or "delete". */
  phase: string;
  /** Workgroups in the store after the refresh. */
  workgroups: number;
}

/** Reports a completed workgroup refresh: metrics, last change, log. */
export function reportRefresh(result: Applied, report: RefreshReport): void {
  report.metrics.refreshed(report.duration);
  if (result.events > 0) {
    report.supervision.lastChange = Date.now();
    report.metrics.changed();
  }
  if (result.verdict?.accepted) {
    log.warn(
      "Applied a refresh deleting {deletions} of {workgroups} workgroups, above the threshold, as --accept-mass-delete allowed it once",
      {
        deletions: result.verdict.deletions,
        workgroups: result.verdict.workgroups,
      },
    );
  }
  log.info(
    "Workgroup refresh complete ({phase} phase): {workgroups} workgroups, {deleted} deleted, {snapshots} snapshots, {events} events",
    {
      phase: report.phase,
      workgroups: report.workgroups,
      deleted: result.deleted,
      snapshots: result.snapshots,
      events: result.events,
    },
  );
}

/** Reports a refused mass deletion: critical log, metric, `STATUS=`. */
export function reportRefusal(
  verdict: GuardVerdict,
  report: RefreshReportTargets,
): void {
  const percent = (share: number) => (share * 100).toFixed(1);
  log.fatal(
    "Refusing a refresh that would delete {deletions} of {workgroups} workgroups ({share} %, above the threshold of {maxShare} %): nothing was deleted and the cookie was kept. Check the directory; to apply the deletion, restart once with --accept-mass-delete",
    {
      deletions: verdict.deletions,
      workgroups: verdict.workgroups,
      share: percent(verdict.share),
      maxShare: percent(verdict.maxShare),
    },
  );
  report.metrics.refused();
  report.supervision.stopKeepAlive();
  report.supervision.set(
    `REFUSED a mass deletion of ${verdict.deletions} of ${verdict.workgroups} workgroups (${
      percent(verdict.share)
    } % > ${
      percent(verdict.maxShare)
    } %); waiting: restart with --accept-mass-delete to apply it`,
  );
}
