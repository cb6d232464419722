/**
 * One RFC 4533 sync search on one connection, as an async iterator of
 * {@linkcode SyncMessage}s. The socket is read only when the caller asks for
 * the next message. {@linkcode SyncSearch.cancel} stops it cleanly with the
 * Cancel operation (RFC 3909).
 *
 * @module
 */

import { getLogger } from "../log/mod.ts";
import type { LdapConnection } from "./connection.ts";
import {
  decodeSyncDone,
  decodeSyncInfo,
  decodeSyncState,
  encodeCancelValue,
  Oid,
  type SyncMode,
  SyncRequestControl,
} from "./controls.ts";
import { LdapProtocolError, LdapResultError } from "./errors.ts";
import {
  encodeExtended,
  encodeSearch,
  type ResponseControl,
} from "./messages.ts";
import { DEFAULT_OPERATION_TIMEOUT } from "./defaults.ts";
import { decodeFrom } from "./operation.ts";
import { SyncResponseControls } from "./sync_controls.ts";
import type { SyncMessage } from "./sync_message.ts";

/** What to synchronise. */
export interface SyncSearchOptions {
  /** Base DN of the search. */
  baseDN: string;
  /** Search scope. Default "sub". */
  scope?: "base" | "one" | "sub";
  /** RFC 4515 filter. Default "(objectClass=*)". */
  filter?: string;
  /** Attributes to return (e.g. `["cn", "member", "entryCSN"]`). Default: all user attributes. */
  attributes?: string[];
  /** "refreshOnly" (poll once) or "refreshAndPersist" (then stream changes). Default "refreshAndPersist". */
  mode?: SyncMode;
  /** The stored cookie to resume from. Default: none (full refresh). */
  cookie?: Uint8Array;
  /** Ask for a full reload instead of e-syncRefreshRequired when the cookie is too old. Default false. */
  reloadHint?: boolean;
  /** Milliseconds to wait for the server to confirm a Cancel before closing. Default 30,000. */
  cancelTimeout?: number;
}

const RESULT_SUCCESS = 0;
const RESULT_CANCELED = 118;
const RESULT_SYNC_REFRESH_REQUIRED = 4096;

const log = getLogger(["lib", "ldap"]);

/**
 * A running sync search. Iterate it with `for await`; leaving the loop early
 * cancels the search. Errors are {@linkcode LdapConnectionError},
 * {@linkcode LdapProtocolError} (the connection is closed) or
 * {@linkcode LdapResultError} (the search failed).
 */
export class SyncSearch implements AsyncIterableIterator<SyncMessage> {
  #connection: LdapConnection;
  #messageId: number;
  #mode: SyncMode;
  #cancelTimeout: number;
  #queue: Promise<unknown> = Promise.resolve();
  /** No more messages for the caller (the search ended, failed or was cancelled). */
  #ended = false;
  #cancelId: number | undefined;
  #cancelAnswered = false;
  #cancelled: Promise<void> | undefined;
  #controls: SyncResponseControls;

  private constructor(
    connection: LdapConnection,
    messageId: number,
    options: SyncSearchOptions,
  ) {
    this.#connection = connection;
    this.#messageId = messageId;
    this.#mode = options.mode ?? "refreshAndPersist";
    this.#cancelTimeout = options.cancelTimeout ?? DEFAULT_OPERATION_TIMEOUT;
    this.#controls = new SyncResponseControls(connection.label);
  }

  /** Sends the sync search on a bound `connection` and returns the running search. */
  static async start(
    connection: LdapConnection,
    options: SyncSearchOptions,
  ): Promise<SyncSearch> {
    const mode = options.mode ?? "refreshAndPersist";
    const messageId = connection.nextMessageId();
    const request = encodeSearch(messageId, {
      baseDN: options.baseDN,
      scope: options.scope ?? "sub",
      filter: options.filter ?? "(objectClass=*)",
      attributes: options.attributes ?? [],
      controls: [
        new SyncRequestControl(mode, {
          cookie: options.cookie,
          reloadHint: options.reloadHint,
        }),
      ],
    });
    await connection.send(request);
    return new SyncSearch(connection, messageId, options);
  }

  /** The message ID of the search request. */
  get messageId(): number {
    return this.#messageId;
  }

  /** Returns this iterator. */
  [Symbol.asyncIterator](): AsyncIterableIterator<SyncMessage> {
    return this;
  }

  /** The next message; `done` once the search ended or was cancelled. */
  next(): Promise<IteratorResult<SyncMessage, undefined>> {
    return this.#enqueue(async () => {
      while (!this.#ended) {
        const message = await this.#step();
        if (message !== undefined) return { done: false, value: message };
      }
      return { done: true, value: undefined };
    });
  }

  /** Cancels the search (used by `for await` when the loop is left early). */
  async return(): Promise<IteratorResult<SyncMessage, undefined>> {
    await this.cancel();
    return { done: true, value: undefined };
  }

  /**
   * Stops the search with a Cancel request (RFC 3909) and reads until the
   * server confirmed it; messages still in flight are discarded (their
   * cookies were never handed out). When the server does not answer within
   * `cancelTimeout` the connection is closed. Safe to call more than once and
   * while a `next()` is pending (it then resolves as done).
   */
  cancel(): Promise<void> {
    this.#cancelled ??= this.#cancel();
    return this.#cancelled;
  }

  async #cancel(): Promise<void> {
    if (this.#ended || this.#connection.closed) {
      this.#ended = true;
      return;
    }
    const cancelId = this.#connection.nextMessageId();
    this.#cancelId = cancelId;
    const timer = setTimeout(() => {
      log.warn(
        "The LDAP server did not confirm the Cancel of sync search {messageId} within {timeout} ms; closing the connection",
        { messageId: this.#messageId, timeout: this.#cancelTimeout },
      );
      this.#connection.close();
    }, this.#cancelTimeout);
    try {
      await this.#connection.send(
        encodeExtended(
          cancelId,
          Oid.cancel,
          encodeCancelValue(this.#messageId),
        ),
      );
      await this.#enqueue(async () => {
        while (!this.#ended || !this.#cancelAnswered) await this.#step();
      });
    } catch (error) {
      log.debug(
        "The Cancel of sync search {messageId} ended the connection: {error}",
        {
          messageId: this.#messageId,
          error,
        },
      );
      this.#connection.close();
    } finally {
      clearTimeout(timer);
      this.#ended = true;
    }
  }

  /** Runs `task` after every earlier read, so reads never overlap. */
  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(task);
    this.#queue = result.catch(() => {});
    return result;
  }

  /** Reads and handles one message; returns what the caller should see, if anything. */
  async #step(): Promise<SyncMessage | undefined> {
    try {
      const bytes = await this.#connection.read();
      return this.#handle(decodeFrom(this.#connection, bytes));
    } catch (error) {
      this.#ended = true;
      this.#cancelAnswered = true;
      this.#connection.close();
      throw error;
    }
  }

  #handle(response: ReturnType<typeof decodeFrom>): SyncMessage | undefined {
    const connection = this.#connection;
    if (response.messageId === this.#cancelId && response.type === "extended") {
      this.#cancelAnswered = true;
      const code = response.result.resultCode;
      if (code !== RESULT_SUCCESS) {
        log.debug(
          "The LDAP server answered the Cancel with result code {code}",
          {
            code,
          },
        );
      }
      return undefined;
    }
    if (response.messageId !== this.#messageId) {
      throw new LdapProtocolError(
        `Cannot go on with the sync search as the server sent a ${response.type} message for message ID ${response.messageId}, which is not outstanding: server is ${connection.label}`,
      );
    }
    if (this.#ended) {
      throw new LdapProtocolError(
        `Cannot go on with the sync search as the server sent a ${response.type} message after the search was done: server is ${connection.label}`,
      );
    }
    const cancelling = this.#cancelId !== undefined;
    switch (response.type) {
      case "searchEntry": {
        const state = this.#controls.syncControl(
          response.controls,
          Oid.syncState,
          `entry "${response.dn}"`,
        );
        if (cancelling) return undefined;
        if (state === undefined) {
          throw new LdapProtocolError(
            `Cannot use the entry "${response.dn}" as it carries no Sync State Control: server is ${connection.label}`,
          );
        }
        const value = this.#controls.decode(
          () => decodeSyncState(state),
          `the Sync State Control of entry "${response.dn}"`,
        );
        return {
          kind: "entry",
          state: value.state,
          entryUUID: value.entryUUID,
          dn: response.dn,
          attributes: response.attributes,
          cookie: value.cookie,
        };
      }
      case "searchReference": {
        const state = this.#controls.syncControl(
          response.controls,
          Oid.syncState,
          "a search reference",
        );
        const cookie = state === undefined ? undefined : this.#controls.decode(
          () => decodeSyncState(state),
          "the Sync State Control of a search reference",
        ).cookie;
        log.warn(
          "Ignoring a search reference to {uris} in the sync search (referrals are not followed)",
          { uris: response.uris.join(" ") },
        );
        return cookie === undefined || cancelling
          ? undefined
          : { kind: "newCookie", cookie };
      }
      case "intermediate": {
        this.#controls.logUnknownControls(
          response.controls,
          [],
          "an intermediate response",
        );
        if (response.name !== Oid.syncInfo) {
          log.warn(
            "Ignoring an intermediate response named {name} in the sync search",
            { name: response.name ?? "(none)" },
          );
          return undefined;
        }
        const raw = response.value;
        if (raw === undefined) {
          throw new LdapProtocolError(
            `Cannot use the Sync Info Message as it has no value: server is ${connection.label}`,
          );
        }
        const info = this.#controls.decode(
          () => decodeSyncInfo(raw),
          "the Sync Info Message",
        );
        if (cancelling) return undefined;
        switch (info.type) {
          case "newcookie":
            return { kind: "newCookie", cookie: info.cookie };
          case "refreshDelete":
          case "refreshPresent":
            return {
              kind: "refreshEnd",
              phase: info.type === "refreshDelete" ? "delete" : "present",
              refreshDone: info.refreshDone,
              refreshDeletes: info.type === "refreshDelete",
              cookie: info.cookie,
            };
          case "syncIdSet":
            return {
              kind: "idSet",
              entryUUIDs: info.entryUUIDs,
              refreshDeletes: info.refreshDeletes,
              cookie: info.cookie,
            };
        }
        break;
      }
      case "searchDone":
        return this.#done(response.result, response.controls);
    }
    throw new LdapProtocolError(
      `Cannot go on with the sync search as the server sent a ${response.type} response for it: server is ${connection.label}`,
    );
  }

  #done(
    result: {
      resultCode: number;
      diagnosticMessage: string;
      matchedDN: string;
    },
    controls: ResponseControl[],
  ): SyncMessage | undefined {
    this.#ended = true;
    const { resultCode } = result;
    const done = this.#controls.syncControl(
      controls,
      Oid.syncDone,
      "the search result",
    );
    if (this.#cancelId !== undefined) {
      if (resultCode !== RESULT_CANCELED) {
        log.debug(
          "The cancelled sync search ended with result code {resultCode}",
          {
            resultCode,
          },
        );
      }
      return undefined;
    }
    if (resultCode === RESULT_SYNC_REFRESH_REQUIRED) {
      log.info(
        "The LDAP server requires a full refresh (e-syncRefreshRequired){diagnostic}",
        {
          diagnostic: result.diagnosticMessage
            ? `: ${result.diagnosticMessage}`
            : "",
        },
      );
      return { kind: "refreshRequired" };
    }
    if (resultCode !== RESULT_SUCCESS) {
      throw new LdapResultError({ operation: "sync search", ...result });
    }
    if (done === undefined) {
      throw new LdapProtocolError(
        this.#mode === "refreshOnly"
          ? `Cannot complete the refresh as the search result carries no Sync Done Control: server is ${this.#connection.label}`
          : `Cannot go on with the sync search as the server ended the persistent search without a Sync Done Control: server is ${this.#connection.label}`,
      );
    }
    const value = this.#controls.decode(
      () => decodeSyncDone(done),
      "the Sync Done Control",
    );
    return {
      kind: "refreshEnd",
      phase: value.refreshDeletes ? "delete" : "present",
      refreshDone: true,
      refreshDeletes: value.refreshDeletes,
      cookie: value.cookie,
    };
  }
}
