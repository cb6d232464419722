/**
 * The resilient sync client: connects, binds, runs the sync search, and on
 * any failure reconnects with exponential backoff and jitter, resuming from
 * the last cookie the caller confirmed.
 *
 * ```ts
 * const client = new SyncClient({ url, bind, baseDN, attributes, cookie: stored });
 * for await (const message of client.sync()) {
 *   await store(message);                       // durably, with message.cookie
 *   if (message.cookie) client.confirm(message.cookie);
 * }
 * ```
 *
 * @module
 */

import { getLogger } from "../log/mod.ts";
import {
  backoffDelay,
  resolveBackoff,
  type ResolvedBackoff,
} from "../backoff.ts";
import {
  type SyncClientOptions,
  validateSyncClientOptions,
} from "./client_options.ts";
import { DEFAULT_MAX_PDU_SIZE } from "./defaults.ts";
import {
  describe,
  LdapConnectionError,
  LdapError,
  LdapResultError,
} from "./errors.ts";
import { closeSession, type LdapSession, openSession } from "./session.ts";
import { SyncSearch } from "./sync.ts";
import type { SyncMessage, SyncStartMessage } from "./sync_message.ts";
import type { LdapUrl } from "./url.ts";
import { sleep } from "../async.ts";

const log = getLogger(["lib", "ldap"]);

/**
 * How long a connection whose search slapd ended with e-syncRefreshRequired
 * stays open before it is unbound and closed (the next search runs on a new
 * connection meanwhile). slapd 2.5.13 (Debian 12) deadlocks when that
 * connection closes right after the refreshRequired arrives: the thread of
 * the write that found the base gone is still in syncprov, tearing the
 * persistent search down, when the closing connection abandons the same
 * search; each waits for a mutex the other holds (a backtrace of the hung
 * slapd: `do_modify` → syncprov and `connection_closing` → `fe_op_abandon` →
 * syncprov, both in `pthread_mutex_lock`), and that write — every later
 * write to the entry too — never returns. Closing a few seconds later
 * leaves slapd the time to finish.
 */
const REFRESH_REQUIRED_CLOSE_DELAY_MS = 5_000;

interface Active {
  session: LdapSession;
  search?: SyncSearch;
  stopped?: Promise<void>;
}

/**
 * A resilient RFC 4533 sync client. Options are validated by the constructor
 * (a TypeError or RangeError names the bad one); nothing connects until
 * {@linkcode SyncClient.sync} is iterated.
 */
export class SyncClient implements AsyncDisposable {
  #options: SyncClientOptions;
  #url: LdapUrl;
  #backoff: ResolvedBackoff;
  #confirmed: Uint8Array | undefined;
  #cookieSource: (() => Uint8Array | undefined) | undefined;
  #running = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #active: Active | undefined;
  /** Connections ended by refreshRequired, closed later (see {@linkcode REFRESH_REQUIRED_CLOSE_DELAY_MS}). */
  #retiring = new Map<Active, ReturnType<typeof setTimeout>>();
  #opening: Promise<LdapSession> | undefined;
  #abort = new AbortController();

  /** Validates `options`; throws a TypeError or RangeError naming the bad option. */
  constructor(options: SyncClientOptions) {
    this.#url = validateSyncClientOptions(options);
    this.#backoff = resolveBackoff(options.reconnect);
    this.#options = { ...options };
    if (typeof options.cookie === "function") {
      this.#cookieSource = options.cookie;
    } else {
      this.#confirmed = options.cookie?.slice();
    }
  }

  /** The cookie the next (re)connect resumes from: the last one confirmed, or the initial one. */
  get confirmedCookie(): Uint8Array | undefined {
    return this.#cookieSource ? this.#cookieSource() : this.#confirmed?.slice();
  }

  /**
   * Records that the caller durably processed the message carrying `cookie`:
   * a reconnect resumes from here. Confirm only cookies of messages already
   * processed, in order.
   */
  confirm(cookie: Uint8Array): void {
    if (!(cookie instanceof Uint8Array)) {
      throw new TypeError(
        "Cannot confirm the sync cookie as it is not a Uint8Array",
      );
    }
    if (this.#cookieSource) {
      throw new TypeError(
        "Cannot confirm the sync cookie as the client reads it from the cookie function given in its options",
      );
    }
    this.#confirmed = cookie.slice();
  }

  /**
   * Runs the sync and yields its messages, a `start` message before each
   * search. In refreshAndPersist mode it never ends on its own: it reconnects
   * after failures (throwing the last error only after `maxAttempts` failures
   * in a row) until {@linkcode close} or leaving the loop. In refreshOnly mode
   * it ends after the refresh. One sync at a time per client.
   */
  sync(): AsyncIterableIterator<SyncMessage> {
    if (this.#closed) {
      throw new LdapConnectionError(
        "Cannot start the LDAP sync as the client is closed",
      );
    }
    if (this.#running) {
      throw new Error(
        "Cannot start the LDAP sync as one is already running on this client",
      );
    }
    this.#running = true;
    return this.#run();
  }

  /**
   * Stops cleanly: cancels the running search (RFC 3909), unbinds and closes
   * the connection; a pending `next()` resolves as done. Safe to call twice.
   */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#abort.abort();
      this.#closing = this.#closeActive();
    }
    return this.#closing!;
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #closeActive(): Promise<void> {
    const opening = this.#opening;
    if (opening) {
      try {
        await closeSession((await opening).connection);
      } catch {
        // The connect or bind failed: there is nothing to close.
      }
    }
    for (const [active, timer] of this.#retiring) {
      clearTimeout(timer);
      await this.#stop(active);
    }
    this.#retiring.clear();
    if (this.#active) await this.#stop(this.#active);
  }

  async *#run(): AsyncGenerator<SyncMessage, undefined, undefined> {
    const options = this.#options;
    let failures = 0;
    let reason: SyncStartMessage["reason"] = "initial";
    try {
      while (!this.#closed) {
        let failure: LdapError | undefined;
        let refreshRequired = false;
        let active: Active | undefined;
        try {
          this.#opening = openSession(this.#url, {
            startTls: options.startTls,
            caFile: options.caFile,
            connectTimeout: options.connectTimeout,
            operationTimeout: options.operationTimeout,
            maxPduSize: options.maxPduSize ?? DEFAULT_MAX_PDU_SIZE,
            bind: options.bind,
          });
          const session = await this.#opening;
          active = { session };
          this.#active = active;
          this.#opening = undefined;
          if (this.#closed) return;
          const resumeCookie = reason === "refreshRequired"
            ? undefined
            : this.confirmedCookie;
          active.search = await SyncSearch.start(session.connection, {
            baseDN: options.baseDN,
            scope: options.scope,
            filter: options.filter,
            attributes: options.attributes,
            mode: options.mode,
            cookie: resumeCookie,
            reloadHint: options.reloadHint,
            cancelTimeout: options.operationTimeout,
          });
          log.info(
            "LDAP sync search started on {server} as {identity} ({layer} layer), {from}",
            {
              server: session.connection.label,
              identity: session.bind.identity || "anonymous",
              layer: session.bind.layer,
              from: resumeCookie
                ? "resuming from the stored cookie"
                : "full refresh",
            },
          );
          yield { kind: "start", reason, resumeCookie: resumeCookie?.slice() };
          if (this.#closed) return;
          let refreshed = false;
          for (;;) {
            const result = await active.search.next();
            if (result.done) break;
            const message = result.value;
            if (message.cookie !== undefined) failures = 0;
            if (message.kind === "refreshEnd" && message.refreshDone) {
              refreshed = true;
            }
            if (message.kind === "refreshRequired") {
              this.#confirmed = undefined;
              refreshRequired = true;
              if (resumeCookie === undefined && !refreshed) {
                // Not even a full refresh satisfies the server: back off as after a failure.
                failure = new LdapResultError({
                  operation: "sync search without a cookie",
                  resultCode: 4096,
                  diagnosticMessage: "e-syncRefreshRequired for a full refresh",
                  matchedDN: "",
                });
              }
            }
            yield message;
            if (this.#closed) return;
          }
          if (this.#closed) return;
          if (!refreshRequired) {
            if ((options.mode ?? "refreshAndPersist") === "refreshOnly") return;
            failure = new LdapConnectionError(
              `Cannot go on with the LDAP sync as the server ended the persistent search: server is ${session.connection.label}`,
            );
          }
        } catch (error) {
          if (this.#closed) return;
          if (!(error instanceof LdapError)) throw error;
          failure = error;
        } finally {
          this.#opening = undefined;
          if (active && refreshRequired && !this.#closed) this.#retire(active);
          else if (active) await this.#stop(active);
          this.#active = undefined;
        }
        if (failure === undefined) {
          reason = "refreshRequired";
          continue;
        }
        failures++;
        if (failures >= this.#backoff.maxAttempts) throw failure;
        const delay = backoffDelay(this.#backoff, failures);
        log.warn(
          "LDAP sync interrupted ({error}); reconnecting in {delay} ms (attempt {attempt})",
          { error: describe(failure), delay, attempt: failures },
        );
        options.onRetry?.(failure, { attempt: failures, delay });
        await sleep(delay, { signal: this.#abort.signal });
        reason = refreshRequired ? "refreshRequired" : "reconnect";
      }
    } finally {
      this.#running = false;
    }
  }

  /** Closes `active` after {@linkcode REFRESH_REQUIRED_CLOSE_DELAY_MS}, or at {@linkcode close}. */
  #retire(active: Active): void {
    const timer = setTimeout(() => {
      this.#retiring.delete(active);
      this.#stop(active).catch((error) =>
        log.debug(
          "Closing a connection after refreshRequired failed: {error}",
          {
            error,
          },
        )
      );
    }, REFRESH_REQUIRED_CLOSE_DELAY_MS);
    this.#retiring.set(active, timer);
  }

  #stop(active: Active): Promise<void> {
    active.stopped ??= (async () => {
      await active.search?.cancel();
      await closeSession(active.session.connection);
    })();
    return active.stopped;
  }
}
