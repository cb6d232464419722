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
  type BackoffOptions,
  resolveBackoff,
  type ResolvedBackoff,
} from "../backoff.ts";
import { type BindOptions, validateBindOptions } from "./bind.ts";
import { DEFAULT_MAX_PDU_SIZE } from "./defaults.ts";
import type { SyncMode } from "./controls.ts";
import {
  describe,
  LdapConnectionError,
  LdapError,
  LdapResultError,
} from "./errors.ts";
import { parseFilter } from "./messages.ts";
import { closeSession, type LdapSession, openSession } from "./session.ts";
import { SyncSearch } from "./sync.ts";
import type { SyncMessage, SyncStartMessage } from "./sync_message.ts";
import { type LdapUrl, parseLdapUrl } from "./url.ts";
import { sleep } from "../async.ts";
import { optionChecks } from "../options.ts";

/** Options of {@linkcode SyncClient}. */
export interface SyncClientOptions {
  /** `ldap://host[:port]` or `ldaps://host[:port]`. */
  url: string;
  /** Upgrade an `ldap://` connection with StartTLS. Default false. */
  startTls?: boolean;
  /** PEM file of the CA(s) trusted for TLS, read at every connect. Default: system roots. */
  caFile?: string;
  /** How to bind (anonymous, simple with a password file, or GSSAPI). */
  bind: BindOptions;
  /** Milliseconds to open a connection, including TLS. Default 10,000. */
  connectTimeout?: number;
  /** Milliseconds to wait for StartTLS, bind and Cancel responses. Default 30,000. */
  operationTimeout?: number;
  /** Largest LDAP message accepted, in bytes (at least 1,024). Default 16 MiB. */
  maxPduSize?: number;
  /** Base DN of the sync search. */
  baseDN: string;
  /** Search scope. Default "sub". */
  scope?: "base" | "one" | "sub";
  /** RFC 4515 filter. Default "(objectClass=*)". */
  filter?: string;
  /** Attributes to return. Default: all user attributes. */
  attributes?: string[];
  /** "refreshAndPersist" (default: refresh, then stream changes forever) or "refreshOnly". */
  mode?: SyncMode;
  /**
   * Where (re)connects resume from. A `Uint8Array`: the stored cookie to start
   * from; later starts use the last cookie given to
   * {@linkcode SyncClient.confirm}. A function: called at every start for the
   * cookie the caller durably holds (then `confirm` is not used). Default:
   * none (full refresh). After e-syncRefreshRequired the next search always
   * starts without a cookie.
   */
  cookie?: Uint8Array | (() => Uint8Array | undefined);
  /** Ask for a full reload instead of e-syncRefreshRequired when the cookie is stale. Default false. */
  reloadHint?: boolean;
  /** Reconnect backoff. Default: 1 s doubling up to 60 s, full jitter, forever. */
  reconnect?: BackoffOptions;
  /** Called before each wait to reconnect, e.g. to report the error in a status line. */
  onRetry?: (
    error: LdapError,
    retry: { attempt: number; delay: number },
  ) => void;
}

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
    this.#url = parseLdapUrl(options.url);
    if (options.startTls && this.#url.scheme === "ldaps") {
      throw new TypeError(
        `Cannot use StartTLS with an ldaps:// URL as the connection already uses TLS: url is "${options.url}"`,
      );
    }
    const check = optionChecks("use the LDAP options");
    for (const key of ["connectTimeout", "operationTimeout"] as const) {
      const value = options[key];
      if (value !== undefined) check.positiveNumber(key, value);
    }
    if (options.maxPduSize !== undefined) {
      check.numberInRange("maxPduSize", options.maxPduSize, {
        min: 1024,
        integer: true,
      });
    }
    if (typeof options.baseDN !== "string") {
      throw new TypeError(
        `Cannot use the LDAP option baseDN as it is not a string: got ${
          JSON.stringify(options.baseDN)
        }`,
      );
    }
    parseFilter(options.filter ?? "(objectClass=*)");
    if (
      options.attributes !== undefined &&
      !(Array.isArray(options.attributes) &&
        options.attributes.every((name) =>
          typeof name === "string" && name !== ""
        ))
    ) {
      throw new TypeError(
        `Cannot use the LDAP option attributes as it is not a list of attribute names: got ${
          JSON.stringify(options.attributes)
        }`,
      );
    }
    if (options.scope !== undefined) {
      check.oneOf("scope", options.scope, ["base", "one", "sub"]);
    }
    if (options.mode !== undefined) {
      check.oneOf("mode", options.mode, ["refreshOnly", "refreshAndPersist"]);
    }
    if (
      options.cookie !== undefined &&
      !(options.cookie instanceof Uint8Array) &&
      typeof options.cookie !== "function"
    ) {
      throw new TypeError(
        "Cannot use the LDAP option cookie as it is neither a Uint8Array nor a function",
      );
    }
    validateBindOptions(options.bind);
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
