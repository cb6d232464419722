/**
 * wgsync-ldap's metrics (`/metrics` on `[ldap] metrics_listen`, see
 * lib/metrics): events by type, the outbox depth, seconds since the last
 * change, the cookie's age, the last refresh's duration, reconnects, guard
 * refusals and store write failures.
 *
 * The role counts in plain fields; the prom-client registry reading them is
 * made at the first scrape ({@linkcode LdapMetrics.registry}), so loading
 * prom-client (about 20 ms) is not part of the start-up before the first
 * refresh, and counting an event is one increment, not a labelled counter
 * update.
 *
 * @module
 */

import type { Registry } from "prom-client";
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

/** wgsync-ldap's counts, and the registry exporting them. */
export class LdapMetrics {
  #source: MetricsSource;
  #events = new Map<EventType, number>();
  #sent = 0;
  #reconnects = { workgroups: 0, people: 0 };
  #refusals = 0;
  #storeFailures = 0;
  #refreshSeconds: number | undefined;
  #lastChange = Date.now();

  /** Starts every count at 0; the gauges read `source` when scraped. */
  constructor(source: MetricsSource) {
    this.#source = source;
  }

  /** An event was written to the outbox. */
  event(type: EventType): void {
    this.#events.set(type, (this.#events.get(type) ?? 0) + 1);
  }

  /** An event was acknowledged. */
  acknowledged(): void {
    this.#sent++;
  }

  /** A directory change produced events. */
  changed(): void {
    this.#lastChange = Date.now();
  }

  /** A search started again after its first. */
  reconnected(search: "workgroups" | "people"): void {
    this.#reconnects[search]++;
  }

  /** The guard refused a refresh. */
  refused(): void {
    this.#refusals++;
  }

  /** A store write failed and will be retried. */
  storeFailed(): void {
    this.#storeFailures++;
  }

  /** A workgroup refresh completed after `ms`. */
  refreshed(ms: number): void {
    this.#refreshSeconds = ms / 1000;
  }

  /**
   * A new registry whose metrics read these counts when scraped (pass the
   * method to `serveMetrics`, which calls it at the first scrape).
   */
  registry = async (): Promise<Registry> => {
    const registry = await createRegistry({ role: "ldap" });
    const { Counter, Gauge } = await import("prom-client");
    const registers = [registry];
    const source = this.#source;
    const counter = (
      name: string,
      help: string,
      value: () => number,
    ) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(value());
        },
      });
    const labelled = <L extends string>(
      name: string,
      help: string,
      label: L,
      values: () => Iterable<[string, number]>,
    ) =>
      new Counter({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          this.reset();
          for (const [value, count] of values()) {
            this.inc({ [label]: value } as Record<L, string>, count);
          }
        },
      });
    const gauge = (
      name: string,
      help: string,
      value: () => number | undefined,
    ) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const current = value();
          if (current !== undefined) this.set(current);
        },
      });
    labelled(
      "wgsync_ldap_events_total",
      "Events written to the outbox, by type (a batch rolled back and replayed counts again).",
      "type",
      () => this.#events,
    );
    counter(
      "wgsync_ldap_events_acknowledged_total",
      "Events acknowledged by the next stage (or written in --stdout mode).",
      () => this.#sent,
    );
    labelled(
      "wgsync_ldap_reconnects_total",
      "Sync searches started again after the first, by search.",
      "search",
      () => Object.entries(this.#reconnects).filter(([, n]) => n > 0),
    );
    counter(
      "wgsync_ldap_guard_refusals_total",
      "Refreshes refused by the mass-deletion guard.",
      () => this.#refusals,
    );
    counter(
      "wgsync_ldap_store_write_failures_total",
      "Changes that could not be written to the store (disk full, locked) and were retried.",
      () => this.#storeFailures,
    );
    gauge(
      "wgsync_ldap_refresh_duration_seconds",
      "How long the last completed workgroup refresh took, from the search's start.",
      () => this.#refreshSeconds,
    );
    gauge(
      "wgsync_ldap_outbox_depth",
      "Events in the outbox, not yet acknowledged.",
      () => source.outboxDepth(),
    );
    gauge(
      "wgsync_ldap_seconds_since_last_change",
      "Seconds since a directory change last produced events (since start when none did).",
      () => (Date.now() - this.#lastChange) / 1000,
    );
    gauge(
      "wgsync_ldap_last_change_timestamp_seconds",
      "When a directory change last produced events, in seconds since the epoch (start when none did).",
      () => this.#lastChange / 1000,
    );
    gauge(
      "wgsync_ldap_cookie_age_seconds",
      "Age of the newest directory change (CSN) the stored workgroup cookie covers.",
      () => {
        const csn = csnFromCookie(source.cookie());
        const time = csn === undefined ? undefined : csnTime(csn);
        return time === undefined ? undefined : (Date.now() - time) / 1000;
      },
    );
    return registry;
  };
}
