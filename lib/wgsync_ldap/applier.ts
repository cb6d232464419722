/**
 * The skeleton both appliers (workgroups, people) share: one sync search at
 * a time, its refresh state, refresh-stage entries staged in batches, bulk
 * mode for the store during a search, a roll-back and a halt on failure, and
 * the provider's refreshRequired (the cookie dropped). Messages are routed
 * by {@linkcode dispatchSyncMessage}; a subclass says what an entry, a
 * deletion and the end of a refresh do to the store.
 *
 * @module
 */

import { getLogger } from "../log/mod.ts";
import type { SyncEntryMessage, SyncMessage } from "../ldap/sync_message.ts";
import { dispatchSyncMessage, type SyncHandlers } from "./dispatch.ts";
import { optionChecks } from "../options.ts";
import { RefreshState } from "./refresh.ts";
import type { Store, SyncStream } from "./store/mod.ts";

/** Raised when a message cannot be applied; the batch was rolled back and the applier must be recreated. */
export class ApplyError extends Error {
  /** Constructs an ApplyError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ApplyError";
  }
}

/** Options every applier takes. */
export interface SyncApplierOptions {
  /**
   * Refresh-stage entries staged per transaction.
   *
   * @default {10000}
   */
  refreshBatchSize?: number;
}

/** What the provider's refreshRequired makes every applier return. */
export type RefreshRequired = {
  /** The provider demands a full reload: the cookie was dropped; start a new search without a cookie. */
  kind: "refreshRequired";
};

type SearchState = "idle" | "running" | "halted" | "failed";

const logger = getLogger("ldap");

/** One sync search's messages applied to the store; `R` is the result of one message. */
export abstract class SyncApplier<R> {
  /** The store written to. */
  protected readonly store: Store;
  #stream: SyncStream;
  #refresh = new RefreshState();
  #batchSize: number;
  #state: SearchState = "idle";
  #bulk = false;
  #staged = 0;
  #handlers: SyncHandlers<R | RefreshRequired>;

  /** Validates the options up front; `stream` names the search's cookie. */
  constructor(store: Store, stream: SyncStream, options: SyncApplierOptions) {
    this.store = store;
    this.#stream = stream;
    this.#batchSize = optionChecks(`create the ${stream} applier`)
      .positiveInteger("refreshBatchSize", options.refreshBatchSize ?? 10000);
    this.#handlers = {
      upsert: (message, inRefresh) => this.upsert(message, inRefresh),
      delete: (entryUUID, cookie) => this.deleteNow(entryUUID, cookie),
      storedUUIDs: () => this.storedUUIDs(),
      staged: () => this.#stagedResult(),
      commit: (cookie) => this.#commit(cookie),
      finishRefresh: () => this.#finishRefresh(),
      refreshRequired: () => this.#refreshRequired(),
    };
  }

  /** The cookie to resume the search from; undefined means a full refresh. */
  get cookie(): Uint8Array | undefined {
    return this.store.cookie(this.#stream);
  }

  /** True while the current search is in its refresh stage. */
  get refreshing(): boolean {
    return this.#refresh.refreshing;
  }

  /**
   * Starts a new sync search (first connect and every reconnect): its
   * messages begin with a refresh stage. Clears a halt (a refused refresh, a
   * refreshRequired).
   */
  beginSearch(): void {
    if (this.#state === "failed") {
      throw new ApplyError(
        `Cannot begin a ${this.#stream} search as an earlier apply failed: reopen the store`,
      );
    }
    this.prepareSearch();
    this.#refresh.begin(this.storedCount() > 0);
    this.#staged = 0;
    this.#state = "running";
    if (!this.#bulk) {
      this.store.beginBulk();
      this.#bulk = true;
    }
  }

  /** Applies one message of the search. */
  apply(message: SyncMessage): R | RefreshRequired {
    if (this.#state !== "running") {
      throw new ApplyError(
        this.#state === "failed"
          ? "Cannot apply the message as an earlier apply failed: reopen the store"
          : `Cannot apply the message as the ${this.#stream} search is ${this.#state}: call beginSearch() for a new search first`,
      );
    }
    this.prepareMessage();
    try {
      return dispatchSyncMessage(message, this.#refresh, this.#handlers);
    } catch (error) {
      this.#state = "failed";
      try {
        this.store.rollback();
      } finally {
        this.#endBulk();
      }
      throw new ApplyError(
        `Cannot apply the ${this.#stream} search's ${message.kind} message to the store "${this.store.path}"`,
        { cause: error },
      );
    }
  }

  /** Ends the current search (it broke off or the role stops): commits staged work, keeps the cookie. */
  endSearch(): void {
    if (this.#state === "failed") return;
    this.#refresh.abandon();
    this.store.commit();
    this.#endBulk();
    this.#state = "idle";
  }

  /**
   * Makes the applier usable again after a failure that left the store
   * intact (the disk was full, the store locked): the open batch is rolled
   * back, so the next search resumes from the last committed cookie and
   * replays what was lost.
   */
  recover(): void {
    this.store.rollback();
    this.#refresh.abandon();
    this.#endBulk();
    this.#state = "idle";
    this.reload();
  }

  /** Reloads what the applier keeps in memory from the store (after {@linkcode SyncApplier.recover}). */
  protected reload(): void {}

  /** Called by {@linkcode SyncApplier.beginSearch} before the refresh starts. */
  protected prepareSearch(): void {}

  /** Called before each message is applied. */
  protected prepareMessage(): void {}

  /** The number of entries of this search the store holds. */
  protected abstract storedCount(): number;

  /** The entryUUIDs of this search the store holds (for the end of a present phase). */
  protected abstract storedUUIDs(): Iterable<string>;

  /** Writes an added or modified entry; `inRefresh` during the refresh. */
  protected abstract upsert(
    message: SyncEntryMessage,
    inRefresh: boolean,
  ): void;

  /** Deletes a stored entry outside a refresh; `cookie` is the change's. */
  protected abstract deleteNow(
    entryUUID: string,
    cookie: Uint8Array | undefined,
  ): void;

  /** The result of a message that did not complete a refresh. */
  protected abstract progress(): R;

  /**
   * Applies a completed refresh: its deletions (`pending`) and its cookie,
   * through {@linkcode SyncApplier.complete}, or {@linkcode SyncApplier.halt}.
   */
  protected abstract finishRefresh(
    pending: string[],
    cookie: Uint8Array | undefined,
  ): R;

  /** Stages what refreshRequired implies besides dropping the cookie. */
  protected onRefreshRequired(): void {}

  /** Stores the refresh's cookie, commits and leaves bulk mode. */
  protected complete(cookie: Uint8Array | undefined): void {
    if (cookie !== undefined) this.store.setCookie(this.#stream, cookie);
    this.store.commit();
    this.#endBulk();
  }

  /** Commits, leaves bulk mode and halts until the next {@linkcode SyncApplier.beginSearch}. */
  protected halt(): void {
    this.store.commit();
    this.#endBulk();
    this.#state = "halted";
    this.#refresh.abandon();
  }

  #finishRefresh(): R {
    const pending = this.#refresh.finish();
    return this.finishRefresh(pending, this.#refresh.cookie);
  }

  #stagedResult(): R {
    if (++this.#staged >= this.#batchSize) {
      this.store.commit();
      this.#staged = 0;
    }
    return this.progress();
  }

  #commit(cookie: Uint8Array | undefined): R {
    if (cookie !== undefined) this.store.setCookie(this.#stream, cookie);
    this.store.commit();
    return this.progress();
  }

  #refreshRequired(): RefreshRequired {
    this.#refresh.abandon();
    this.store.commit();
    this.store.setCookie(this.#stream, undefined);
    this.onRefreshRequired();
    this.halt();
    logger.warn(
      "The provider requires a full reload of the {stream}: the cookie was dropped",
      { stream: this.#stream },
    );
    return { kind: "refreshRequired" };
  }

  #endBulk(): void {
    if (this.#bulk) {
      this.#bulk = false;
      this.store.endBulk();
    }
  }
}
