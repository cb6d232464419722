/**
 * wgsync-ldap's metrics (`/metrics` on `[ldap] metrics_listen`, see
 * lib/metrics): events by type, the outbox depth, seconds since the last
 * change, the cookie's age, the last refresh's duration, reconnects, guard
 * refusals and store write failures.
 *
 * @module
 */

import { Counter, Gauge, type Registry } from "prom-client";
import { csnFromCookie, type EventType } from "../events/mod.ts";
import { createRegistry } from "../metrics/mod.ts";

/** What the gauges read when scraped. */
export interface MetricsSource {
  /** Events in the outbox; undefined once the store is closed. */
  outboxDepth(): number | undefined;
  /** The workgroup search's stored cookie. */
  cookie(): Uint8Array | undefined;
}

/** The time an OpenLDAP CSN (`YYYYmmddHHMMSS.ffffffZ#…`) stands for, in ms; undefined if not one. */
export function csnTime(csn: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d+))?Z/.exec(
    csn,
  );
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, fraction = "0"] = m;
  return Date.UTC(+y, +mo - 1, +d, +h, +mi, +s) +
    Number(`0.${fraction}`) * 1000;
}

/** wgsync-ldap's metrics on a registry of its own. */
export class LdapMetrics {
  /** The registry to serve. */
  readonly registry: Registry;
  #events: Counter<"type">;
  #sent: Counter;
  #reconnects: Counter<"search">;
  #refusals: Counter;
  #storeFailures: Counter;
  #refresh: Gauge;
  #lastChange = Date.now();

  /** Creates the metrics; the gauges read `source` when scraped. */
  constructor(source: MetricsSource) {
    const registry = createRegistry({ role: "ldap" });
    this.registry = registry;
    const registers = [registry];
    this.#events = new Counter({
      name: "wgsync_ldap_events_total",
      help:
        "Events written to the outbox, by type (a batch rolled back and replayed counts again).",
      labelNames: ["type"],
      registers,
    });
    this.#sent = new Counter({
      name: "wgsync_ldap_events_acknowledged_total",
      help:
        "Events acknowledged by the next stage (or written in --stdout mode).",
      registers,
    });
    this.#reconnects = new Counter({
      name: "wgsync_ldap_reconnects_total",
      help: "Sync searches started again after the first, by search.",
      labelNames: ["search"],
      registers,
    });
    this.#refusals = new Counter({
      name: "wgsync_ldap_guard_refusals_total",
      help: "Refreshes refused by the mass-deletion guard.",
      registers,
    });
    this.#storeFailures = new Counter({
      name: "wgsync_ldap_store_write_failures_total",
      help:
        "Changes that could not be written to the store (disk full, locked) and were retried.",
      registers,
    });
    this.#refresh = new Gauge({
      name: "wgsync_ldap_refresh_duration_seconds",
      help:
        "How long the last completed workgroup refresh took, from the search's start.",
      registers,
    });
    new Gauge({
      name: "wgsync_ldap_outbox_depth",
      help: "Events in the outbox, not yet acknowledged.",
      registers,
      collect() {
        const depth = source.outboxDepth();
        if (depth !== undefined) this.set(depth);
      },
    });
    const lastChange = () => this.#lastChange;
    new Gauge({
      name: "wgsync_ldap_seconds_since_last_change",
      help:
        "Seconds since a directory change last produced events (since start when none did).",
      registers,
      collect() {
        this.set((Date.now() - lastChange()) / 1000);
      },
    });
    new Gauge({
      name: "wgsync_ldap_last_change_timestamp_seconds",
      help:
        "When a directory change last produced events, in seconds since the epoch (start when none did).",
      registers,
      collect() {
        this.set(lastChange() / 1000);
      },
    });
    new Gauge({
      name: "wgsync_ldap_cookie_age_seconds",
      help:
        "Age of the newest directory change (CSN) the stored workgroup cookie covers.",
      registers,
      collect() {
        const csn = csnFromCookie(source.cookie());
        const time = csn === undefined ? undefined : csnTime(csn);
        if (time !== undefined) this.set((Date.now() - time) / 1000);
      },
    });
  }

  /** An event was written to the outbox. */
  event(type: EventType): void {
    this.#events.inc({ type });
  }

  /** An event was acknowledged. */
  acknowledged(): void {
    this.#sent.inc();
  }

  /** A directory change produced events. */
  changed(): void {
    this.#lastChange = Date.now();
  }

  /** A search started again after its first. */
  reconnected(search: "workgroups" | "people"): void {
    this.#reconnects.inc({ search });
  }

  /** The guard refused a refresh. */
  refused(): void {
    this.#refusals.inc();
  }

  /** A store write failed and will be retried. */
  storeFailed(): void {
    this.#storeFailures.inc();
  }

  /** A workgroup refresh completed after `ms`. */
  refreshed(ms: number): void {
    this.#refresh.set(ms / 1000);
  }
}
