/**
 * Waiting, the one way: sleeps that end early when a signal aborts, a promise
 * for an abort, and a bounded wait. Sleeping is `node:timers/promises`
 * (cleared when the signal aborts); what it lacks is written here: a sleep
 * that resolves instead of rejecting on abort (every caller checks
 * `signal.aborted` next), an abort promise that is settled at once for a
 * signal aborted already (an `abort` listener added then never fires), a
 * wait that ends on abort without leaking, a bounded wait, and a yield to
 * the event loop cheaper than `setTimeout(0)`.
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
 * Settles as `promise` does, or resolves with undefined as soon as `signal`
 * aborts (at once if it has already). Use it instead of `Promise.race` with
 * one long-lived {@linkcode abortPromise} in a loop: every race adds a
 * reaction to that promise, which keeps each racer reachable until the
 * signal aborts (about 300 bytes per race: a memory leak in a loop that runs
 * for the life of a service). The listener this adds is removed once
 * `promise` settles.
 */
export function unlessAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal,
): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
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

/**
 * Resolves after one turn of the event loop, in which timers that are due,
 * signal handlers and finished I/O get their turn: the way for a long
 * stretch of synchronous work to let them in. A `setTimeout(0)` (or
 * `sleep(0)`) would do the same but waits 1–2 ms in Deno, whose timers have
 * millisecond granularity; a message through a fresh `MessageChannel` (closed
 * once it arrived, so it never keeps the process alive) takes about 0.05 ms.
 */
export function yieldToEventLoop(): Promise<void> {
  const { port1, port2 } = new MessageChannel();
  return new Promise((resolve) => {
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(undefined);
  });
}
