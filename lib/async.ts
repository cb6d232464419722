/**
 * Waiting, the one way: sleeps that end early when a signal aborts, a promise
 * for an abort, and a bounded wait. Sleeping is `node:timers/promises`
 * (cleared when the signal aborts); what it lacks is written here: a sleep
 * that resolves instead of rejecting on abort (every caller checks
 * `signal.aborted` next), and an abort promise that is settled at once for a
 * signal aborted already (an `abort` listener added then never fires).
 *
 * @module
 */
import { setTimeout as delay } from "node:timers/promises";

/** Options for {@linkcode sleep}. */
export interface SleepOptions {
  /** Ends the sleep early (without an error) when aborted. @default {undefined} */
  signal?: AbortSignal;
}

/**
 * Resolves after `ms` milliseconds, or as soon as `options.signal` aborts
 * (at once if it has already); never rejects.
 */
export async function sleep(
  ms: number,
  options: SleepOptions = {},
): Promise<void> {
  const { signal } = options;
  if (signal?.aborted) return;
  try {
    await delay(ms, undefined, { signal });
  } catch (error) {
    if (!signal?.aborted) throw error;
  }
}

/**
 * Resolves when `signal` aborts; already resolved if it has. Never rejects.
 */
export function abortPromise(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true })
  );
}

/**
 * Waits for `promise` at most `ms` milliseconds: true when it fulfilled in
 * time, false when the time ran out (it is not cancelled). Rejects if
 * `promise` rejects in time.
 */
export async function waitAtMost(
  promise: Promise<unknown>,
  ms: number,
): Promise<boolean> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      promise.then(() => true),
      sleep(ms, { signal: timer.signal }).then(() => false),
    ]);
  } finally {
    timer.abort();
  }
}
