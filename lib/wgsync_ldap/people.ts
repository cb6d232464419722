/**
 * Applies the optional people search's sync messages: keeps the people table
 * and the in-memory uid lookup ({@linkcode MemberDirectory}) current. The
 * people search emits no events; its cookie is kept apart from the
 * workgroup search's.
 *
 * @module
 */

import type { SyncEntryMessage } from "../ldap/sync_message.ts";
import { SyncApplier, type SyncApplierOptions } from "./applier.ts";
import { bindDirectory, dnKey, type MemberDirectory } from "./member.ts";
import type { Store } from "./store/mod.ts";

/** Options of {@linkcode PeopleApplier}. */
export interface PeopleApplierOptions extends SyncApplierOptions {
  /**
   * The attribute holding the account name.
   *
   * @default {"uid"}
   */
  uidAttribute?: string;
  /** The attribute holding a unique id to use as the member id; default none (the RDN value is the id). */
  idAttribute?: string;
}

/** The outcome of applying one people message. */
export type PeopleApplyResult =
  | { kind: "applied"; refreshDone: boolean }
  | { kind: "refreshRequired" };

/** Applies the people search's messages to a {@linkcode Store} and a {@linkcode MemberDirectory}. */
export class PeopleApplier
  extends SyncApplier<{ kind: "applied"; refreshDone: boolean }> {
  #directory: MemberDirectory;
  #uidAttribute: string;
  #idAttribute: string | undefined;

  /** Loads the stored people into `directory`. */
  constructor(
    store: Store,
    directory: MemberDirectory,
    options: PeopleApplierOptions = {},
  ) {
    super(store, "people", options);
    this.#directory = directory;
    this.#uidAttribute = (options.uidAttribute ?? "uid").toLowerCase();
    this.#idAttribute = options.idAttribute?.toLowerCase();
    this.reload();
  }

  /** Loads the people table into the directory and binds it to the store. */
  protected override reload(): void {
    const directory = this.#directory;
    directory.clear();
    for (const person of this.store.people()) {
      directory.set(person.dnKey, {
        uid: person.uid,
        uniqueId: person.uniqueId,
      });
    }
    bindDirectory(directory, this.store);
  }

  protected override storedCount(): number {
    return this.store.personCount();
  }

  protected override *storedUUIDs(): Generator<string> {
    for (const person of this.store.people()) yield person.entryUUID;
  }

  protected override progress(): { kind: "applied"; refreshDone: boolean } {
    return { kind: "applied", refreshDone: false };
  }

  protected override finishRefresh(
    pending: string[],
    cookie: Uint8Array | undefined,
  ): { kind: "applied"; refreshDone: boolean } {
    for (const uuid of pending) this.deleteNow(uuid);
    this.complete(cookie);
    return { kind: "applied", refreshDone: true };
  }

  protected override deleteNow(entryUUID: string): void {
    const old = this.store.person(entryUUID);
    if (old === undefined) return;
    this.store.deletePerson(entryUUID);
    this.#directory.delete(old.dnKey);
  }

  protected override upsert(message: SyncEntryMessage): void {
    const key = dnKey(message.dn);
    const uid = message.attributes[this.#uidAttribute]?.[0] ?? null;
    const uniqueId = this.#idAttribute === undefined
      ? null
      : message.attributes[this.#idAttribute]?.[0] ?? null;
    const old = this.store.person(message.entryUUID);
    if (old?.dnKey === key && old.uid === uid && old.uniqueId === uniqueId) {
      return;
    }
    // The store first writes out member lists it holds by reference,
    // resolved with the directory as it was: change the directory after it.
    this.store.setPerson({
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
