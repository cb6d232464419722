/**
 * Applies the workgroup search's sync messages to the store: the store
 * change, the events it implies and the cookie are written together.
 *
 * Persist-stage messages are applied one transaction each. Refresh-stage
 * entries are staged in bigger batches (the cookie does not advance inside a
 * refresh, so a crash simply repeats the refresh); deletions of the refresh
 * (ID sets, delete entries, and entries missing at the end of a present
 * phase) are held back until the refresh is done, judged by the
 * {@linkcode MassDeletionGuard}, and then applied with the refresh's cookie in
 * one transaction. A workgroup that carries a name deleted by that refresh
 * (deleted and re-created, or renamed onto it) gets a snapshot after the
 * deletion, so downstream ends with the right membership.
 *
 * While the store is being rebuilt (`snapshotPending`), the refresh emits no
 * `workgroup.created` or member events: it ends with a `workgroup.snapshot` of
 * every workgroup instead (renames and deletions are still emitted).
 *
 * @module
 */

import { getLogger } from "../log/mod.ts";
import type { SyncEntryMessage } from "../ldap/sync_message.ts";
import { csnFromCookie, type EventType, workgroupStem } from "../events/mod.ts";
import { SyncApplier, type SyncApplierOptions } from "./applier.ts";
import {
  type GuardOptions,
  type GuardVerdict,
  MassDeletionGuard,
} from "./guard.ts";
import { boundDirectory, MemberDirectory } from "./member.ts";
import type { Store, WorkgroupRow } from "./store/mod.ts";
import { type EventPayload, EventWriter } from "./workgroup_events.ts";
import {
  attributeOption,
  keyed,
  memberValues,
  workgroupName,
} from "./workgroup_entry.ts";

/** Options of {@linkcode WorkgroupApplier}. */
export interface WorkgroupApplierOptions extends SyncApplierOptions {
  /**
   * The attribute holding the workgroup name.
   *
   * @default {"cn"}
   */
  nameAttribute?: string;
  /**
   * The attribute holding the member DNs.
   *
   * @default {"member"}
   */
  memberAttribute?: string;
  /** The uid lookup table kept by the people search. Default: an empty one (uid is null). */
  members?: MemberDirectory;
  /** The mass-deletion guard's options. */
  guard?: GuardOptions;
  /** Called with the type of every event written to the outbox (metrics). */
  onEvent?: (type: EventType) => void;
}

/** The outcome of applying one message that was applied. */
export interface Applied {
  kind: "applied";
  /** Events written to the outbox. */
  events: number;
  /** True when this message completed a refresh (the store now matches the directory). */
  refreshDone: boolean;
  /** Workgroups deleted by the completed refresh. */
  deleted: number;
  /** Snapshots emitted by the completed refresh. */
  snapshots: number;
  /** The guard's verdict when this message completed a refresh. */
  verdict?: GuardVerdict;
}

/** The refresh would delete too many workgroups: nothing deleted, the old cookie kept; start a new search later. */
export interface MassDeleteRefused {
  kind: "massDelete";
  verdict: GuardVerdict;
}

/** The outcome of applying one message. */
export type ApplyResult =
  | Applied
  | MassDeleteRefused
  | { kind: "refreshRequired" };

const logger = getLogger("ldap");

/** Applies the workgroup search's messages to a {@linkcode Store}. */
export class WorkgroupApplier extends SyncApplier<Applied | MassDeleteRefused> {
  #nameAttribute: string;
  #memberAttribute: string;
  #members: MemberDirectory;
  #guard: MassDeletionGuard;
  #events: EventWriter;
  #warnedNoCsn = false;
  #quiet = false;
  /** The current refresh started on an empty store. */
  #fresh = false;
  #held = false;

  /** Validates the options up front. */
  constructor(store: Store, options: WorkgroupApplierOptions = {}) {
    super(store, "workgroups", options);
    this.#nameAttribute = attributeOption(
      "nameAttribute",
      options.nameAttribute ?? "cn",
    );
    this.#memberAttribute = attributeOption(
      "memberAttribute",
      options.memberAttribute ?? "member",
    );
    this.#members = options.members ?? new MemberDirectory();
    this.#guard = new MassDeletionGuard(options.guard);
    this.#events = new EventWriter(store, this.#members, options.onEvent);
  }

  override endSearch(): void {
    this.#fresh = false;
    super.endSearch();
  }

  protected override prepareSearch(): void {
    const store = this.store;
    this.#quiet = store.snapshotPending;
    this.#fresh = store.entryCount() === 0;
    // Member lists of created and snapshot events are held by reference to
    // the store (see Store.appendMembersEvent) when the store resolves them
    // exactly as this applier would: with this applier's directory, bound
    // to the store by the people applier, or both it and the people table
    // are empty.
    this.#held = boundDirectory(store) === this.#members ||
      (this.#members.size === 0 && store.personCount() === 0);
  }

  protected override prepareMessage(): void {
    this.#events.resetCount();
  }

  protected override storedCount(): number {
    return this.store.entryCount();
  }

  protected override storedUUIDs(): Iterable<string> {
    return this.store.workgroupUUIDs();
  }

  protected override onRefreshRequired(): void {
    this.store.setSnapshotPending(true);
    logger.warn(
      "A snapshot of every workgroup follows the next refresh",
    );
  }

  protected override progress(): Applied {
    return {
      kind: "applied",
      events: this.#events.count,
      refreshDone: false,
      deleted: 0,
      snapshots: 0,
    };
  }

  protected override deleteNow(
    entryUUID: string,
    cookie: Uint8Array | undefined,
  ): void {
    this.#delete(entryUUID, csnFromCookie(cookie));
  }

  protected override finishRefresh(
    pending: string[],
    cookie: Uint8Array | undefined,
  ): Applied | MassDeleteRefused {
    const store = this.store;
    this.#fresh = false;
    let doomed = 0;
    for (const uuid of pending) if (store.workgroup(uuid)?.valid) doomed++;
    const verdict = this.#guard.check(doomed, store.workgroupCount());
    if (!verdict.allowed) {
      // The refresh's additions and modifications are real and stay; its
      // deletions and its cookie are not applied.
      this.halt();
      return { kind: "massDelete", verdict };
    }
    const csn = csnFromCookie(cookie);
    const deletedNames = new Set<string>();
    let deleted = 0;
    for (const uuid of pending) {
      const name = this.#delete(uuid, csn);
      if (name === undefined) continue;
      deleted++;
      deletedNames.add(name);
    }
    let snapshots = 0;
    if (deletedNames.size > 0 && !store.snapshotPending) {
      // A refresh's deletions are emitted after its other events. When a
      // workgroup that is still (or again) in the directory carries a deleted
      // name — deleted and re-created, or renamed onto a deleted name — its
      // earlier event would be undone by the deletion downstream: follow up
      // with its snapshot.
      snapshots += this.#snapshotAll((row) => deletedNames.has(row.name));
    }
    if (store.snapshotPending) {
      snapshots += this.#snapshotAll(() => true);
      store.setSnapshotPending(false);
    }
    this.complete(cookie);
    return {
      kind: "applied",
      events: this.#events.count,
      refreshDone: true,
      deleted,
      snapshots,
      verdict,
    };
  }

  /** Snapshots the valid workgroups `which` selects; returns how many. */
  #snapshotAll(which: (row: WorkgroupRow) => boolean): number {
    const observedAt = new Date().toISOString();
    const seqs: [string, number][] = [];
    for (const row of this.store.validWorkgroups()) {
      if (!which(row)) continue;
      seqs.push([
        row.entryUUID,
        this.#events.snapshot(row, observedAt, this.#held),
      ]);
    }
    for (const [uuid, seq] of seqs) this.store.setWorkgroupSeq(uuid, seq);
    return seqs.length;
  }

  /** Deletes a workgroup row; returns the name when a valid workgroup was deleted. */
  #delete(entryUUID: string, csn: string | undefined): string | undefined {
    const row = this.store.workgroup(entryUUID);
    if (row === undefined) return undefined;
    this.store.deleteWorkgroup(entryUUID);
    if (!row.valid) return undefined;
    // A deletion carries no entryCSN (an ID set not even a DN), and an
    // entryUUID can leave the search scope and come back any number of
    // times (moved out and back): the id takes the entryCSN of the last
    // change the entry had, a directory fact any consumer that followed the
    // entry knows too.
    this.#events.emit(entryUUID, "workgroup.deleted", row.name, {
      csn: csn ?? row.csn,
      observedAt: new Date().toISOString(),
      seq: this.#events.nextSeq(row.seq),
      payload: {},
      facts: { csn: row.csn, key: "" },
    });
    return row.name;
  }

  protected override upsert(
    message: SyncEntryMessage,
    inRefresh: boolean,
  ): void {
    const store = this.store;
    const events = this.#events;
    const { entryUUID, dn, attributes } = message;
    const name = workgroupName(dn, attributes, this.#nameAttribute);
    const stem = name === undefined ? undefined : workgroupStem(name);
    const valid = stem !== undefined;
    const values = memberValues(attributes[this.#memberAttribute] ?? []);
    let csn = attributes.entrycsn?.[0];
    if (csn === undefined) {
      csn = csnFromCookie(message.cookie) ?? "";
      if (!this.#warnedNoCsn) {
        this.#warnedNoCsn = true;
        logger.warn(
          "Entry {dn} carries no entryCSN: request the entryCSN attribute in the sync search so event ids derive from the change's CSN",
          { dn },
        );
      }
    }
    // While rebuilding, the snapshots at the end of the refresh replace the
    // created and member events of the refresh.
    const quiet = inRefresh && this.#quiet;
    const observedAt = events.now();
    const next: WorkgroupRow = {
      entryUUID,
      dn,
      name: name ?? "",
      valid,
      members: valid ? JSON.stringify(values) : "[]",
      csn,
      seq: 0,
    };
    // In a refresh that started on an empty store the row is new unless this
    // refresh reported the entry before: try the insert without a lookup.
    let row = inRefresh && this.#fresh ? undefined : store.workgroup(entryUUID);
    if (row === undefined) {
      const created = valid && !quiet;
      // The created event takes the next position as its seq, the row that seq.
      if (created) next.seq = events.nextSeq(0);
      if (store.insertWorkgroup(next)) {
        if (!valid) this.#warnInvalid(dn, name);
        else if (created) {
          // The row just inserted holds exactly these members.
          events.emit(entryUUID, "workgroup.created", next.name, {
            csn,
            observedAt,
            seq: next.seq,
            payload: this.#held ? {} : { members: events.resolveAll(values) },
            held: this.#held,
            stem,
          });
        }
        return;
      }
      next.seq = 0;
      row = store.workgroup(entryUUID)!;
    }
    next.seq = row.seq;
    if (
      row.dn === next.dn && row.name === next.name &&
      row.valid === next.valid &&
      row.members === next.members
    ) {
      // Nothing this consumer tracks changed; the row still takes the
      // entry's csn, which a later deletion's id is derived from, so every
      // consumer that saw this version derives the same id.
      if (row.csn !== csn) store.setWorkgroupCsn(entryUUID, csn);
      return;
    }
    const emit = (
      type: EventType,
      payload: EventPayload,
      options: { jump?: boolean; name?: string; key?: string } = {},
    ) => {
      next.seq = events.emit(entryUUID, type, options.name ?? next.name, {
        csn,
        observedAt,
        seq: events.nextSeq(next.seq, options.jump),
        payload,
        facts: options.key === undefined ? {} : { key: options.key },
      });
    };
    if (row.valid && !valid) {
      this.#warnInvalid(dn, name);
      emit("workgroup.deleted", {}, { name: row.name });
    } else if (!row.valid && valid) {
      if (!quiet) {
        emit("workgroup.created", { members: events.resolveAll(values) }, {
          jump: true,
        });
      }
    } else if (valid) {
      if (row.name !== next.name && workgroupStem(row.name) !== stem) {
        // Subscriptions select events by stem: a rename into another stem
        // would reach only the new stem's subscribers, as a rename of a
        // workgroup they never had, while the old stem's would keep it. The
        // old stem's see it deleted, the new stem's see it created.
        emit("workgroup.deleted", {}, { name: row.name });
        if (!quiet) {
          emit("workgroup.created", { members: events.resolveAll(values) }, {
            jump: true,
          });
        }
        store.updateWorkgroup(next);
        return;
      }
      if (row.name !== next.name) {
        emit("workgroup.renamed", { previous: row.name }, { jump: true });
      }
      if (!quiet && row.members !== next.members) {
        const before = keyed(memberValues(JSON.parse(row.members)));
        const after = keyed(values);
        for (const [key, value] of before) {
          if (!after.has(key)) {
            emit("member.removed", { member: events.resolve(value) }, { key });
          }
        }
        for (const [key, value] of after) {
          if (!before.has(key)) {
            emit("member.added", { member: events.resolve(value) }, { key });
          }
        }
      }
    }
    store.updateWorkgroup(next);
  }

  #warnInvalid(dn: string, name: string | undefined): void {
    logger.warn(
      "Skipping workgroup {dn}: its name {name} is not of the form stem:name",
      { dn, name: name ?? "(none)" },
    );
  }
}
