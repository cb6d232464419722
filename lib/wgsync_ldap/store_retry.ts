/**
 * Waiting out a store that cannot be used for now — locked by another
 * process, unreadable, on a full disk — instead of failing or rebuilding:
 * opening it is retried with backoff ({@linkcode openStoreWithRetry}), and a
 * sync search whose change could not be written is run again from the last
 * committed cookie ({@linkcode followWithRetry}), so the rolled-back change
 * comes again and nothing is lost; {@linkcode StoreProblems} shows such a
 * failure to the operator until a change is written again.
 *
 * @module
 */

import { sleep } from "../async.ts";
import { backoffDelay, resolveBackoff } from "../backoff.ts";
import { GssError } from "../gssapi/mod.ts";
import { getLogger } from "../log/mod.ts";
import type { Notifier } from "../systemd/mod.ts";
import type { LdapMetrics } from "./metrics.ts";
import {
  formerStoreIdentities,
  type LdapSettings,
  storeIdentity,
  storePath,
} from "./settings.ts";
import {
  openStore,
  type Store,
  StoreUnavailableError,
  transientProblem,
} from "./store/mod.ts";
import type { Supervision } from "./supervision.ts";

const log = getLogger("ldap");

/** Options of {@linkcode openStoreWithRetry}. */
export interface OpenStoreWithRetryOptions {
  /** Where `STATUS=` goes while waiting. */
  notifier: Notifier;
  /** Ends the waiting. */
  signal: AbortSignal;
}

/**
 * Opens the store of `ldap` (rebuilding it when it must be, see
 * `openStore`), retrying with backoff while it is unavailable or the ticket
 * cache naming who binds cannot be read; undefined when stopped meanwhile.
 */
export async function openStoreWithRetry(
  ldap: LdapSettings,
  options: OpenStoreWithRetryOptions,
): Promise<Store | undefined> {
  const path = storePath(ldap);
  const backoff = resolveBackoff();
  for (let attempt = 1;; attempt++) {
    let problem: string;
    try {
      const opened = openStore(path, {
        identity: storeIdentity(ldap),
        formerIdentities: formerStoreIdentities(ldap),
      });
      if (opened.rebuilt !== undefined) {
        log.warn(
          "Rebuilding the store {path} from a full refresh as {reason} (the old store is kept as {movedTo}); a snapshot of every workgroup follows",
          { path, reason: opened.rebuilt, movedTo: opened.movedTo },
        );
      }
      return opened.store;
    } catch (error) {
      if (error instanceof StoreUnavailableError) problem = error.message;
      else if (error instanceof GssError) {
        problem = `Cannot tell who binds to the directory: ${error.message}`;
      } else throw error;
    }
    const delay = backoffDelay(backoff, attempt);
    const seconds = Math.round(delay / 1000);
    log.error("{problem}; retrying in {seconds} s", { problem, seconds });
    void options.notifier.status(
      `starting: waiting for the store (${problem}), retry in ${seconds} s`,
    );
    await sleep(delay, { signal: options.signal });
    if (options.signal.aborted) return undefined;
  }
}

/** Options of {@linkcode followWithRetry}. */
export interface FollowWithRetryOptions {
  /** Ends the retrying. */
  signal: AbortSignal;
  /** Makes the applier usable again before the loop runs again (its batch rolled back). */
  recover(): void;
  /** Told each failure that will be retried, and in how many seconds. */
  onProblem(problem: string, seconds: number): void;
}

/**
 * Runs `loop` (a sync search into its applier) and, when it fails because
 * the store cannot be written for now, runs it again after a backoff
 * (started over after a quiet spell); any other failure is thrown.
 */
export async function followWithRetry(
  loop: () => Promise<void>,
  options: FollowWithRetryOptions,
): Promise<void> {
  const { signal } = options;
  const backoff = resolveBackoff();
  let attempt = 0;
  let failedAt = 0;
  for (;;) {
    try {
      return await loop();
    } catch (error) {
      const problem = transientProblem(error);
      if (problem === undefined || signal.aborted) throw error;
      // A failure long after the last one starts the backoff over.
      if (Date.now() - failedAt > 2 * backoff.maxDelay) attempt = 0;
      failedAt = Date.now();
      const delay = backoffDelay(backoff, ++attempt);
      options.onProblem(problem, Math.round(delay / 1000));
      await sleep(delay, { signal });
      if (signal.aborted) return;
      options.recover();
    }
  }
}

/** Options of {@linkcode StoreProblems}. */
export interface StoreProblemsOptions {
  /** The store's path, for messages. */
  path: string;
  /** Counts the failures. */
  metrics: LdapMetrics;
  /** Shows the problem in `STATUS=`. */
  supervision: Supervision;
}

/** What the operator sees of a store that cannot be written for now: metric, `STATUS=`, log. */
export class StoreProblems {
  #path: string;
  #metrics: LdapMetrics;
  #supervision: Supervision;

  /** Reports nothing until a failure. */
  constructor(options: StoreProblemsOptions) {
    this.#path = options.path;
    this.#metrics = options.metrics;
    this.#supervision = options.supervision;
  }

  /** A write failed (`problem`) and is retried in `seconds`. */
  failed(problem: string, seconds: number): void {
    this.#metrics.storeFailed();
    this.#supervision.storeProblem =
      `cannot write the store ${this.#path}: ${problem}, retry in ${seconds} s`;
    this.#supervision.report();
    log.error(
      "Cannot write to the store {path} as {problem}: nothing is lost (the change comes again from the last cookie); retrying in {seconds} s",
      { path: this.#path, problem, seconds },
    );
  }

  /** A message was applied: a store problem reported before is over. */
  applied(): void {
    if (this.#supervision.storeProblem === undefined) return;
    this.#supervision.storeProblem = undefined;
    log.info("The store {path} can be written again", {
      path: this.#path,
    });
    this.#supervision.report();
  }
}
