/**
 * Applies the optional people search's sync messages: keeps the people table
 * and the in-memory uid lookup ({@linkcode MemberDirectory}) current. The
 * people search emits no events; its cookie is kept apart from the
 * workgroup search's.
 *
 * @module
 */

import { getLogger } from "../log/mod.ts";
import type { SyncEntryMessage, SyncMessage } from "../ldap/sync_message.ts";
import { bindDirectory, dnKey, type MemberDirectory } from "./member.ts";
import { dispatchSyncMessage, type SyncHandlers } from "./dispatch.ts";
import { RefreshState } from "./refresh.ts";
import type { Store } from "./store.ts";
import { ApplyError } from "./apply.ts";

/** Options of {@linkcode PeopleApplier}. */
export interface PeopleApplierOptions {
  /** The attribute holding the account name. Default "uid". */
  uidAttribute?: string;
  /** The attribute holding a unique id to use as the member id; default none (the RDN value is the id). */
  idAttribute?: string;
  /** Refresh-stage entries staged per transaction. Default 10000. */
  refreshBatchSize?: number;
}

/** The outcome of applying one people message. */
export type PeopleApplyResult =
  | { kind: "applied"; refreshDone: boolean }
  | { kind: "refreshRequired" };

const logger = getLogger("ldap");

/** Applies the people search's messages to a {@linkcode Store} and a {@linkcode MemberDirectory}. */
export class PeopleApplier {
  #store: Store;
  #directory: MemberDirectory;
  #uidAttribute: string;
  #idAttribute: string | undefined;
  #batchSize: number;
  #refresh = new RefreshState();
  #handlers: SyncHandlers<PeopleApplyResult> = {
    upsert: (message) => this.#upsert(message),
    delete: (entryUUID) => this.#delete(entryUUID),
    storedUUIDs: () => this.#peopleUUIDs(),
    staged: () => this.#stagedResult(),
    commit: (cookie) => this.#commit(cookie),
    finishRefresh: () => this.#finishRefresh(),
    refreshRequired: () => this.#refreshRequired(),
  };
  #running = false;
  #failed = false;
  #staged = 0;
  #bulk = false;

  /** Loads the stored people into `directory`. */
  constructor(
    store: Store,
    directory: MemberDirectory,
    options: PeopleApplierOptions = {},
  ) {
    this.#store = store;
    this.#directory = directory;
    this.#uidAttribute = (options.uidAttribute ?? "uid").toLowerCase();
    this.#idAttribute = options.idAttribute?.toLowerCase();
    const batch = options.refreshBatchSize ?? 10000;
    if (!Number.isInteger(batch) || batch < 1) {
      throw new RangeError(
        `Cannot create the people applier as refreshBatchSize is invalid: refreshBatchSize is ${batch}, expected a positive integer`,
      );
    }
    this.#batchSize = batch;
    directory.clear();
    for (const person of store.people()) {
      directory.set(person.dnKey, {
        uid: person.uid,
        uniqueId: person.uniqueId,
      });
    }
    bindDirectory(directory, store);
  }

  /** The cookie to resume the people search from; undefined means a full refresh. */
  get cookie(): Uint8Array | undefined {
    return this.#store.cookie("people");
  }

  /** True while the current search is in its refresh stage. */
  get refreshing(): boolean {
    return this.#refresh.refreshing;
  }

  /** Starts a new sync search of the people subtree (first connect and every reconnect). */
  beginSearch(): void {
    if (this.#failed) {
      throw new ApplyError(
        "Cannot begin a people search as an earlier apply failed: reopen the store",
      );
    }
    this.#refresh.begin(this.#store.personCount() > 0);
    this.#staged = 0;
    this.#running = true;
    if (!this.#bulk) {
      this.#store.beginBulk();
      this.#bulk = true;
    }
  }

  #endBulk(): void {
    if (this.#bulk) {
      this.#bulk = false;
      this.#store.endBulk();
    }
  }

  /** Ends the current search: commits staged work, keeps the cookie. */
  endSearch(): void {
    if (this.#failed) return;
    this.#refresh.abandon();
    this.#store.commit();
    this.#endBulk();
    this.#running = false;
  }

  /** Applies one message of the people search. */
  apply(message: SyncMessage): PeopleApplyResult {
    if (!this.#running) {
      throw new ApplyError(
        "Cannot apply the people message as no search is running: call beginSearch() first",
      );
    }
    try {
      return this.#apply(message);
    } catch (error) {
      this.#failed = true;
      this.#running = false;
      try {
        this.#store.rollback();
      } finally {
        this.#endBulk();
      }
      throw new ApplyError(
        `Cannot apply the people ${message.kind} message to the store "${this.#store.path}"`,
        { cause: error },
      );
    }
  }

  #apply(message: SyncMessage): PeopleApplyResult {
    return dispatchSyncMessage(message, this.#refresh, this.#handlers);
  }

  #finishRefresh(): PeopleApplyResult {
    for (const uuid of this.#refresh.finish()) this.#delete(uuid);
    this.#commit(this.#refresh.cookie);
    this.#endBulk();
    return { kind: "applied", refreshDone: true };
  }

  #refreshRequired(): PeopleApplyResult {
    this.#refresh.abandon();
    this.#store.setCookie("people", undefined);
    this.#store.commit();
    this.#endBulk();
    this.#running = false;
    logger.warn(
      "The provider requires a full reload of the people: the cookie was dropped",
    );
    return { kind: "refreshRequired" };
  }

  *#peopleUUIDs(): Generator<string> {
    for (const person of this.#store.people()) yield person.entryUUID;
  }

  #stagedResult(): PeopleApplyResult {
    if (++this.#staged >= this.#batchSize) {
      this.#store.commit();
      this.#staged = 0;
    }
    return { kind: "applied", refreshDone: false };
  }

  #commit(cookie: Uint8Array | undefined): PeopleApplyResult {
    if (cookie !== undefined) this.#store.setCookie("people", cookie);
    this.#store.commit();
    return { kind: "applied", refreshDone: false };
  }

  #delete(entryUUID: string): void {
    const old = this.#store.person(entryUUID);
    if (old === undefined) return;
    this.#store.deletePerson(entryUUID);
    this.#directory.delete(old.dnKey);
  }

  #upsert(message: SyncEntryMessage): void {
    const key = dnKey(message.dn);
    const uid = message.attributes[this.#uidAttribute]?.[0] ?? null;
    const uniqueId = this.#idAttribute === undefined
      ? null
      : message.attributes[this.#idAttribute]?.[0] ?? null;
    const old = this.#store.person(message.entryUUID);
    if (old?.dnKey === key && old.uid === uid && old.uniqueId === uniqueId) {
      return;
    }
    // The store first writes out member lists it holds by reference,
    // resolved with the directory as it was: change the directory after it.
    this.#store.setPerson({
      entryUUID: message.entryUUID,
      dnKey: key,
      uid,
      uniqueId,
    });
    if (old !== undefined && old.dnKey !== key) {
      this.#directory.delete(old.dnKey);
    }
    this.#directory.set(key, { uid, uniqueId });
  }
}
