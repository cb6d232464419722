/**
 * The overview's key figures, computed from two scrapes of a role's
 * `/metrics` (now and about a minute earlier). The metric names are the
 * roles' own (`wgsync_<role>_<what>`, see lib/metrics/registry.ts); a figure
 * whose metric a role does not export is simply absent for that role.
 *
 * @module
 */
import type { FamilyTotals } from "./prometheus.ts";

/** One figure's definition. */
export interface Figure {
  key: string;
  label: string;
  unit: "" | "s" | "/min";
  /** The value, or undefined when the role has no such metric. */
  compute(now: Totals, then: Totals | undefined): number | undefined;
}

/** A scrape's family totals and when it was taken. */
export interface Totals {
  /** Milliseconds since the epoch. */
  t: number;
  families: ReadonlyMap<string, FamilyTotals>;
}

/**
 * Per minute, from the first of `names` the role exports (a counter): the
 * increase over the last minute (over less while less history is kept).
 */
function rate(names: readonly string[]): Figure["compute"] {
  return (now, then) => {
    const name = names.find((n) => now.families.has(n));
    if (name === undefined) return undefined;
    const current = now.families.get(name)!.value;
    const earlier = then?.families.get(name)?.value;
    if (then === undefined || earlier === undefined || now.t <= then.t) {
      return 0;
    }
    // A restarted role starts its counters again from zero.
    const delta = current >= earlier ? current - earlier : current;
    // Events in the last minute: a shorter history is not extrapolated.
    return delta / (Math.max(now.t - then.t, 60_000) / 60_000);
  };
}

/** The mean of a histogram's observations between the two scrapes. */
function meanLatency(names: readonly string[]): Figure["compute"] {
  return (now, then) => {
    const name = names.find((n) => now.families.has(n));
    if (name === undefined) return undefined;
    const a = now.families.get(name)!;
    const b = then?.families.get(name);
    const count = a.count - (b && b.count <= a.count ? b.count : 0);
    const sum = a.sum - (b && b.count <= a.count ? b.sum : 0);
    return count > 0 ? sum / count : undefined;
  };
}

/** A gauge's value, summed over its labels. */
function gauge(name: string): Figure["compute"] {
  return (now) => now.families.get(name)?.value;
}

/** Seconds from a gauge holding a Unix time (seconds) to the scrape. */
function ageOf(name: string): Figure["compute"] {
  return (now) => {
    const family = now.families.get(name);
    if (family === undefined || !Number.isFinite(family.max)) {
      return undefined;
    }
    if (family.max <= 0) return undefined;
    return Math.max(0, now.t / 1000 - family.max);
  };
}

/** Every figure, in the overview's column order. */
export const FIGURES: readonly Figure[] = [
  {
    key: "events_per_minute",
    label: "events/min",
    unit: "/min",
    compute: rate([
      "wgsync_ldap_events_total",
      "wgsync_event_published_total",
      "wgsync_remctl_runs_total",
      "wgsync_web_events_total",
    ]),
  },
  {
    key: "publish_latency",
    label: "publish latency",
    unit: "s",
    compute: meanLatency(["wgsync_event_publish_latency_seconds"]),
  },
  {
    key: "remctl_latency",
    label: "remctl latency",
    unit: "s",
    compute: meanLatency(["wgsync_remctl_command_seconds"]),
  },
  {
    key: "outbox_depth",
    label: "outbox depth",
    unit: "",
    compute: gauge("wgsync_ldap_outbox_depth"),
  },
  {
    // wgsync-remctl exports a histogram of each message's age when received
    // (SQS has no "age of the oldest message" outside CloudWatch).
    key: "queue_age",
    label: "queue age at receipt",
    unit: "s",
    compute: meanLatency(["wgsync_remctl_queue_age_seconds"]),
  },
  {
    key: "paused_targets",
    label: "paused targets",
    unit: "",
    compute: gauge("wgsync_remctl_target_paused"),
  },
  {
    key: "since_directory_change",
    label: "since last directory change",
    unit: "s",
    compute: ageOf("wgsync_ldap_last_change_timestamp_seconds"),
  },
];
