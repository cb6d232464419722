/**
 * What systemd sees of the consumer: `STATUS=` (kept current on an
 * interval), `EXTEND_TIMEOUT_USEC=` while the first refresh makes progress,
 * and the watchdog.
 *
 * @module
 */

import type { Notifier } from "../systemd/mod.ts";
import { statusLine } from "./status.ts";

/**
 * While the first refresh makes progress, EXTEND_TIMEOUT_USEC is sent this
 * often (and when the people refresh completes), each time granting this
 * much more time. A refresh that makes no progress (the server unreachable)
 * gets no extension: the unit's start timeout applies.
 */
const KEEP_ALIVE_MS = 5_000;
const KEEP_ALIVE_EXTEND_USEC = 30_000_000;

/** What the status line is made of, read when it is sent. */
export interface SupervisionSource {
  /** False once the consumer stops (no more status). */
  active(): boolean;
  workgroups(): number;
  outbox(): number;
  /** Channel connections up and configured; undefined in `--stdout` mode. */
  channel(): { up: number; of: number } | undefined;
  /** False once the consumer failed (the watchdog stops). */
  healthy(): boolean;
}

/** Options of {@linkcode Supervision}. */
export interface SupervisionOptions {
  notifier: Notifier;
  /** How often STATUS= is sent, in ms. */
  statusIntervalMs: number;
  source: SupervisionSource;
}

/** The consumer's state as systemd is told it. */
export class Supervision {
  #notifier: Notifier;
  #intervalMs: number;
  #source: SupervisionSource;
  #timers: ReturnType<typeof setInterval>[] = [];
  #keepAlive: ReturnType<typeof setInterval> | undefined;
  /** A short state, e.g. "running". */
  state = "starting: first refresh of the directory";
  /** A problem of the directory connection shown after the state, or undefined. */
  problem: string | undefined;
  /** A problem of the store shown after the state (the disk full), or undefined. */
  storeProblem: string | undefined;
  /** When the last change produced events (ms since the epoch). */
  lastChange: number | undefined;
  /** Sync messages applied so far: the keep-alive's measure of progress. */
  progress = 0;

  /** Sends nothing until {@linkcode Supervision.start}. */
  constructor(options: SupervisionOptions) {
    this.#notifier = options.notifier;
    this.#intervalMs = options.statusIntervalMs;
    this.#source = options.source;
  }

  /** The status line. */
  text(): string {
    const source = this.#source;
    const active = source.active();
    return statusLine({
      state: [this.state, this.problem, this.storeProblem]
        .filter((part) => part !== undefined)
        .map((part, i) => i === 0 ? part : ` (${part})`).join(""),
      workgroups: active ? source.workgroups() : 0,
      outbox: active ? source.outbox() : 0,
      lastChange: this.lastChange,
      channel: source.channel(),
    });
  }

  /** Sends the status line now. */
  report(): void {
    if (!this.#source.active()) return;
    void this.#notifier.status(this.text());
  }

  /** Sets the state and reports it. */
  set(state: string): void {
    this.state = state;
    this.report();
  }

  /** Starts the status interval, the keep-alive and the watchdog. */
  start(): void {
    this.report();
    const status = setInterval(() => this.report(), this.#intervalMs);
    Deno.unrefTimer(status);
    this.#timers.push(status);
    let seen = 0;
    this.#keepAlive = setInterval(() => {
      if (this.progress === seen) return;
      seen = this.progress;
      void this.#notifier.extendTimeout(KEEP_ALIVE_EXTEND_USEC);
    }, KEEP_ALIVE_MS);
    Deno.unrefTimer(this.#keepAlive);
    this.#notifier.startWatchdog({ healthy: () => this.#source.healthy() });
  }

  /** Grants more start time now, while the keep-alive runs (a refresh step done). */
  extend(): void {
    if (this.#keepAlive !== undefined) {
      void this.#notifier.extendTimeout(KEEP_ALIVE_EXTEND_USEC);
    }
  }

  /** Ends the start-time extensions (the first refresh is done or refused). */
  stopKeepAlive(): void {
    clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
  }

  /** Stops every timer. */
  stop(): void {
    this.stopKeepAlive();
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
  }
}
