/**
 * wgsync-event's Prometheus metrics, on the role's registry (lib/metrics):
 * events received, published, disabled and failed (by reason), batch sizes,
 * the latency from receipt to SNS accepted, stem cache lookups by result and
 * the stems this process created; plus the channel's open connections.
 *
 * @module
 */

import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { FailureReason } from "./retry.ts";
import type { CacheResult } from "./stems.ts";

/** The metrics wgsync-event updates. */
export class EventMetrics {
  /** Events received from the channel, by type (or "invalid"). */
  readonly received: Counter<"type">;
  /** Events SNS accepted, by how they went (batch, single, claim_check). */
  readonly published: Counter<"path">;
  /** Events of disabled stems: acknowledged, not published. */
  readonly disabled: Counter<string>;
  /** Failed attempts (retried) and invalid events (dropped), by reason. */
  readonly failed: Counter<"reason">;
  /** Entries per accepted PublishBatch or Publish call. */
  readonly batchSize: Histogram<string>;
  /** From the event's receipt to SNS accepted, in seconds. */
  readonly publishLatency: Histogram<string>;
  /** Stem cache lookups by result. */
  readonly cache: Counter<"result">;
  /** Stems this process created in the table. */
  readonly stemsCreated: Counter<string>;

  /** Registers the metrics on `registry`; `connections` is read at every scrape. */
  constructor(registry: Registry, connections: () => number) {
    const registers = [registry];
    this.received = new Counter({
      name: "wgsync_event_received_total",
      help: "Events received from the channel, by type.",
      labelNames: ["type"],
      registers,
    });
    this.published = new Counter({
      name: "wgsync_event_published_total",
      help: "Events SNS accepted, by path (batch, single, claim_check).",
      labelNames: ["path"],
      registers,
    });
    this.disabled = new Counter({
      name: "wgsync_event_disabled_total",
      help: "Events of disabled stems, acknowledged and not published.",
      registers,
    });
    this.failed = new Counter({
      name: "wgsync_event_failed_total",
      help:
        "Failed AWS attempts (retried) and invalid events (acknowledged, not published), by reason.",
      labelNames: ["reason"],
      registers,
    });
    this.batchSize = new Histogram({
      name: "wgsync_event_batch_size",
      help: "Entries per accepted SNS call.",
      buckets: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      registers,
    });
    this.publishLatency = new Histogram({
      name: "wgsync_event_publish_latency_seconds",
      help: "From receipt on the channel to SNS accepted.",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30],
      registers,
    });
    this.cache = new Counter({
      name: "wgsync_event_stem_cache_total",
      help: "Stem cache lookups by result (hit, miss, stale, inflight).",
      labelNames: ["result"],
      registers,
    });
    this.stemsCreated = new Counter({
      name: "wgsync_event_stems_created_total",
      help: "Stems this process created in the stems table.",
      registers,
    });
    new Gauge({
      name: "wgsync_event_channel_connections",
      help: "Authenticated channel connections open.",
      registers,
      collect() {
        this.set(connections());
      },
    });
  }

  /** Counts a cache lookup. */
  lookup(result: CacheResult): void {
    this.cache.inc({ result });
  }

  /** Counts a failure. */
  failure(reason: FailureReason): void {
    this.failed.inc({ reason });
  }
}
