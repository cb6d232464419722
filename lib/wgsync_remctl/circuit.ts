/**
 * The pause of one target whose remctl server fails (transport, GSS,
 * access, timeout): while open, the target's lanes stop receiving and the
 * lanes holding a message wait; after the backoff delay they retry, and the
 * first success closes it.
 *
 * @module
 */

import { sleep } from "../async.ts";
import { backoffDelay, type ResolvedBackoff } from "../backoff.ts";

/** A target's circuit: closed (working) or paused until a time. */
export class Circuit {
  #backoff: ResolvedBackoff;
  #failures = 0;
  #until = 0;
  #reason = "";
  #waiters = new Set<() => void>();

  /** Pauses grow from `backoff.minDelay` to `backoff.maxDelay`. */
  constructor(backoff: ResolvedBackoff) {
    this.#backoff = backoff;
  }

  /** True while the target is paused (a failure and no success since). */
  get paused(): boolean {
    return this.#failures > 0;
  }

  /** The last failure's message while paused, else "". */
  get reason(): string {
    return this.#reason;
  }

  /** Failures in a row. */
  get failures(): number {
    return this.#failures;
  }

  /**
   * Records a failure; returns true when it opened the circuit (the first
   * failure after a success), so the caller logs a pause once.
   */
  fail(reason: string): boolean {
    const opened = this.#failures === 0;
    // Lanes failing together during one pause count as one failure.
    if (opened || performance.now() >= this.#until) {
      this.#failures++;
      this.#until = performance.now() +
        backoffDelay(this.#backoff, this.#failures);
    }
    this.#reason = reason;
    return opened;
  }

  /** Records a success; returns true when it closed a paused circuit. */
  succeed(): boolean {
    const closed = this.#failures > 0;
    this.#failures = 0;
    this.#until = 0;
    this.#reason = "";
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
    return closed;
  }

  /** Waits until the pause's delay has passed (at once when closed) or `signal` aborts. */
  async retryTime(signal: AbortSignal): Promise<void> {
    const wait = this.#until - performance.now();
    if (wait > 0) await sleep(wait, { signal });
  }

  /** Waits until the circuit is closed (a held message succeeded) or `signal` aborts. */
  async closed(signal: AbortSignal): Promise<void> {
    while (this.paused && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const wake = () => resolve();
        this.#waiters.add(wake);
        // Re-check now and then: a pause whose lanes all stopped holding
        // messages must still let one lane receive again to probe.
        sleep(Math.max(100, this.#until - performance.now()), { signal })
          .then(() => {
            this.#waiters.delete(wake);
            resolve();
          });
      });
      if (performance.now() >= this.#until) return;
    }
  }
}
