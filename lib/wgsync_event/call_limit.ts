/**
 * How many SNS calls the publisher keeps in flight, adapted like TCP's
 * congestion window: it starts at `initial` and grows by one per accepted
 * call (slow start) until the first sign of congestion, then by one per
 * round trip (`1 / limit` per accepted call) up to `max`; it is halved (not
 * below 1) on a throttled or timed-out call and on an accepted call slower
 * than `slowCallMs`. The slow-call signal matters for an endpoint that
 * queues calls instead of refusing them (moto handles one at a time): there
 * every call sent beyond the first only waits longer, and waits that reach
 * the request timeout make the SDK send the same call again, so the
 * endpoint spends its time on copies. One decrease per round trip: a signal
 * from a call that started before the last decrease is ignored.
 *
 * Hand-written: no well-kept TypeScript library offers an adaptive limit
 * (Netflix's concurrency-limits is Java); this is the few lines of AIMD.
 *
 * @module
 */

import { optionChecks } from "../options.ts";

/** Options of {@linkcode CallLimit}. */
export interface CallLimitOptions {
  /** The most calls in flight. */
  max: number;
  /** Calls in flight at the start. @default {Math.min(2, max)} */
  initial?: number;
  /** An accepted call slower than this (ms) counts as congestion. */
  slowCallMs: number;
}

/** The adaptive number of calls in flight; see the module comment. */
export class CallLimit {
  #max: number;
  #slowCallMs: number;
  #window: number;
  /** Slow start until the first decrease. */
  #slowStart = true;
  /** Incremented by every decrease; a call's token is the value when it started. */
  #epoch = 0;

  /** Constructs a CallLimit; a bad option is a RangeError naming it. */
  constructor(options: CallLimitOptions) {
    const check = optionChecks("limit the SNS calls in flight");
    this.#max = check.positiveInteger("max", options.max);
    this.#slowCallMs = check.positiveNumber("slowCallMs", options.slowCallMs);
    this.#window = check.numberInRange(
      "initial",
      options.initial ?? Math.min(2, this.#max),
      { min: 1, max: this.#max, integer: true },
    );
  }

  /** Calls that may be in flight now (1 … max). */
  get limit(): number {
    return Math.floor(this.#window);
  }

  /** The token of a call starting now, for {@linkcode succeeded} and {@linkcode overloaded}. */
  started(): number {
    return this.#epoch;
  }

  /** A call started with `token` was accepted after `ms`. */
  succeeded(token: number, ms: number): void {
    if (ms > this.#slowCallMs) {
      this.overloaded(token);
      return;
    }
    const step = this.#slowStart ? 1 : 1 / this.limit;
    this.#window = Math.min(this.#max, this.#window + step);
  }

  /** A call started with `token` was throttled, timed out or was slow. */
  overloaded(token: number): void {
    if (token < this.#epoch) return;
    this.#epoch++;
    this.#slowStart = false;
    this.#window = Math.max(1, Math.floor(this.#window / 2));
  }
}
