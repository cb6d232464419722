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
 * Sequence numbers: a workgroup's events carry consecutive `seq` values; its
 * first event (and a rename) starts at the event's outbox position, which
 * only grows, so `seq` never goes back for a workgroup name.
 *
 * @module
 */

import { getLogger } from "../log/mod.ts";
import type { SyncEntryMessage, SyncMessage } from "../ldap/sync_message.ts";
import {
  csnFromCookie,
  eventId,
  type EventType,
  type Member,
  type WorkgroupEvent,
  workgroupStem,
} from "../events/mod.ts";
import {
  type GuardOptions,
  type GuardVerdict,
  MassDeletionGuard,
} from "./guard.ts";
import { boundDirectory, dnKey, MemberDirectory, rdnValue } from "./member.ts";
import { dispatchSyncMessage, type SyncHandlers } from "./dispatch.ts";
import { RefreshState } from "./refresh.ts";
import type { Store, WorkgroupRow } from "./store.ts";

/** Options of {@linkcode WorkgroupApplier}. */
export interface WorkgroupApplierOptions {
  /** The attribute holding the workgroup name. Default "cn". */
  nameAttribute?: string;
  /** The attribute holding the member DNs. Default "member". */
  memberAttribute?: string;
  /** The uid lookup table kept by the people search. Default: an empty one (uid is null). */
  members?: MemberDirectory;
  /** The mass-deletion guard's options. */
  guard?: GuardOptions;
  /** Refresh-stage entries staged per transaction. Default 10000. */
  refreshBatchSize?: number;
}

/** The outcome of applying one message. */
export type ApplyResult =
  | {
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
  | {
    /** The refresh would delete too many workgroups: nothing deleted, the old cookie kept; start a new search later. */
    kind: "massDelete";
    verdict: GuardVerdict;
  }
  | {
    /** The provider demands a full reload: the cookie was dropped; start a new search without a cookie. */
    kind: "refreshRequired";
  };

/** Raised when a message cannot be applied; the batch was rolled back and the applier must be recreated. */
export class ApplyError extends Error {
  /** Constructs an ApplyError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ApplyError";
  }
}

const logger = getLogger("ldap");

type EventPayload = { member?: Member; members?: Member[]; previous?: string };

type SearchState = "idle" | "running" | "halted" | "failed";

/** Applies the workgroup search's messages to a {@linkcode Store}. */
export class WorkgroupApplier {
  #store: Store;
  #nameAttribute: string;
  #memberAttribute: string;
  #members: MemberDirectory;
  #guard: MassDeletionGuard;
  #batchSize: number;
  #refresh = new RefreshState();
  #handlers: SyncHandlers<ApplyResult> = {
    upsert: (message, inRefresh) => this.#upsert(message, inRefresh),
    delete: (entryUUID, cookie) => {
      this.#delete(entryUUID, csnFromCookie(cookie));
    },
    storedUUIDs: () => this.#store.workgroupUUIDs(),
    staged: () => this.#stagedResult(),
    commit: (cookie) => this.#commitResult(cookie),
    finishRefresh: () => this.#finishRefresh(),
    refreshRequired: () => this.#refreshRequired(),
  };
  #state: SearchState = "idle";
  #bulk = false;
  #staged = 0;
  #events = 0;
  #warnedNoCsn = false;
  #clockMs = 0;
  #clockText = "";
  #quiet = false;
  /** The current refresh started on an empty store. */
  #fresh = false;
  #held = false;

  /** Validates the options up front. */
  constructor(store: Store, options: WorkgroupApplierOptions = {}) {
    this.#store = store;
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
    const batch = options.refreshBatchSize ?? 10000;
    if (!Number.isInteger(batch) || batch < 1) {
      throw new RangeError(
        `Cannot create the workgroup applier as refreshBatchSize is invalid: refreshBatchSize is ${batch}, expected a positive integer`,
      );
    }
    this.#batchSize = batch;
  }

  /** The cookie to resume the workgroup search from; undefined means a full refresh. */
  get cookie(): Uint8Array | undefined {
    return this.#store.cookie("workgroups");
  }

  /** True while the current search is in its refresh stage. */
  get refreshing(): boolean {
    return this.#refresh.refreshing;
  }

  /**
   * Starts a new sync search (first connect and every reconnect): its
   * messages begin with a refresh stage. Clears a halt after a mass-deletion
   * refusal or a refreshRequired.
   */
  beginSearch(): void {
    if (this.#state === "failed") {
      throw new ApplyError(
        "Cannot begin a search as an earlier apply failed: reopen the store",
      );
    }
    this.#refresh.begin(this.#store.entryCount() > 0);
    this.#quiet = this.#store.snapshotPending;
    this.#fresh = this.#store.entryCount() === 0;
    // Member lists of created and snapshot events are held by reference to
    // the store (see Store.appendMembersEvent) when the store resolves them
    // exactly as this applier would: with this applier's directory, bound
    // to the store by the people applier, or both it and the people table
    // are empty.
    this.#held = boundDirectory(this.#store) === this.#members ||
      (this.#members.size === 0 && this.#store.personCount() === 0);
    this.#staged = 0;
    this.#state = "running";
    if (!this.#bulk) {
      this.#store.beginBulk();
      this.#bulk = true;
    }
  }

  /** Applies one message; see {@linkcode ApplyResult}. */
  apply(message: SyncMessage): ApplyResult {
    if (this.#state !== "running") {
      throw new ApplyError(
        this.#state === "failed"
          ? "Cannot apply the message as an earlier apply failed: reopen the store"
          : `Cannot apply the message as the search is ${this.#state}: call beginSearch() for a new search first`,
      );
    }
    this.#events = 0;
    try {
      return this.#apply(message);
    } catch (error) {
      this.#state = "failed";
      try {
        this.#store.rollback();
      } finally {
        this.#endBulk();
      }
      throw new ApplyError(
        `Cannot apply the ${message.kind} message to the store "${this.#store.path}"`,
        { cause: error },
      );
    }
  }

  /** Ends the current search (it broke off or the role stops): commits staged work, keeps the cookie. */
  endSearch(): void {
    if (this.#state === "failed") return;
    this.#refresh.abandon();
    this.#fresh = false;
    this.#store.commit();
    this.#endBulk();
    this.#state = "idle";
  }

  #apply(message: SyncMessage): ApplyResult {
    return dispatchSyncMessage(message, this.#refresh, this.#handlers);
  }

  #refreshRequired(): ApplyResult {
    this.#refresh.abandon();
    this.#store.commit();
    this.#store.setCookie("workgroups", undefined);
    this.#store.setSnapshotPending(true);
    this.#store.commit();
    this.#endBulk();
    this.#state = "halted";
    logger.warn(
      "The provider requires a full reload of the workgroups: the cookie was dropped, a snapshot of every workgroup follows the next refresh",
    );
    return { kind: "refreshRequired" };
  }

  #finishRefresh(): ApplyResult {
    const store = this.#store;
    const pending = this.#refresh.finish();
    const cookie = this.#refresh.cookie;
    this.#fresh = false;
    let doomed = 0;
    for (const uuid of pending) if (store.workgroup(uuid)?.valid) doomed++;
    const verdict = this.#guard.check(doomed, store.workgroupCount());
    if (!verdict.allowed) {
      // The refresh's additions and modifications are real and stay; its
      // deletions and its cookie are not applied.
      store.commit();
      this.#endBulk();
      this.#state = "halted";
      this.#refresh.abandon();
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
      const observedAt = new Date().toISOString();
      const seqs: [string, number][] = [];
      for (const row of store.validWorkgroups()) {
        if (!deletedNames.has(row.name)) continue;
        seqs.push([row.entryUUID, this.#snapshot(row, observedAt)]);
        snapshots++;
      }
      for (const [uuid, seq] of seqs) store.setWorkgroupSeq(uuid, seq);
    }
    if (store.snapshotPending) {
      const observedAt = new Date().toISOString();
      const seqs: [string, number][] = [];
      for (const row of store.validWorkgroups()) {
        seqs.push([row.entryUUID, this.#snapshot(row, observedAt)]);
        snapshots++;
      }
      for (const [uuid, seq] of seqs) store.setWorkgroupSeq(uuid, seq);
      store.setSnapshotPending(false);
    }
    if (cookie !== undefined) store.setCookie("workgroups", cookie);
    store.commit();
    this.#endBulk();
    return {
      kind: "applied",
      events: this.#events,
      refreshDone: true,
      deleted,
      snapshots,
      verdict,
    };
  }

  #stagedResult(): ApplyResult {
    if (++this.#staged >= this.#batchSize) {
      this.#store.commit();
      this.#staged = 0;
    }
    return {
      kind: "applied",
      events: this.#events,
      refreshDone: false,
      deleted: 0,
      snapshots: 0,
    };
  }

  #commitResult(cookie: Uint8Array | undefined): ApplyResult {
    if (cookie !== undefined) this.#store.setCookie("workgroups", cookie);
    this.#store.commit();
    return {
      kind: "applied",
      events: this.#events,
      refreshDone: false,
      deleted: 0,
      snapshots: 0,
    };
  }

  #endBulk(): void {
    if (this.#bulk) {
      this.#bulk = false;
      this.#store.endBulk();
    }
  }

  /** Emits a snapshot of a workgroup row; returns its seq (the caller stores it). */
  #snapshot(row: WorkgroupRow, observedAt: string): number {
    return this.#emit(row.entryUUID, "workgroup.snapshot", row.name, {
      csn: row.csn,
      observedAt,
      seq: this.#nextSeq(row.seq),
      payload: this.#held ? {} : {
        members: (JSON.parse(row.members) as string[]).map((dn) =>
          this.#members.resolve(dn)
        ),
      },
      // The row is not changed after its snapshot in this batch.
      held: this.#held,
    });
  }

  /** Deletes a workgroup row; returns the name when a valid workgroup was deleted. */
  #delete(entryUUID: string, csn: string | undefined): string | undefined {
    const row = this.#store.workgroup(entryUUID);
    if (row === undefined) return undefined;
    this.#store.deleteWorkgroup(entryUUID);
    if (!row.valid) return undefined;
    // An entryUUID is deleted only once: the id needs no CSN (which a
    // deletion reported in an ID set does not have).
    this.#emit(entryUUID, "workgroup.deleted", row.name, {
      csn: csn ?? row.csn,
      observedAt: new Date().toISOString(),
      seq: this.#nextSeq(row.seq),
      payload: {},
      facts: { csn: "", key: "" },
    });
    return row.name;
  }

  /**
   * The seq for a workgroup's next event: one more than its last, or the
   * event's outbox position when it had none yet or takes a name (`jump`), so
   * seq never goes back for a workgroup name even across deletion,
   * re-creation and renames (positions only grow, and no seq exceeds the
   * position of its event).
   */
  #nextSeq(last: number, jump = false): number {
    const position = this.#store.nextPosition;
    if (last === 0) return position;
    return jump ? Math.max(last + 1, position) : last + 1;
  }

  #upsert(message: SyncEntryMessage, inRefresh: boolean): void {
    const store = this.#store;
    const { entryUUID, dn, attributes } = message;
    const name = this.#nameOf(dn, attributes);
    const stem = name === undefined ? undefined : workgroupStem(name);
    const valid = stem !== undefined;
    const values = attributes[this.#memberAttribute] ?? [];
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
    const observedAt = this.#now();
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
      if (created) next.seq = this.#nextSeq(0);
      if (store.insertWorkgroup(next)) {
        if (!valid) this.#warnInvalid(dn, name);
        else if (created) {
          // The row just inserted holds exactly these members.
          this.#emit(entryUUID, "workgroup.created", next.name, {
            csn,
            observedAt,
            seq: next.seq,
            payload: this.#held ? {} : { members: this.#resolveAll(values) },
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
      return; // Nothing this consumer tracks changed.
    }
    const emit = (
      type: EventType,
      payload: EventPayload,
      options: { jump?: boolean; name?: string; key?: string } = {},
    ) => {
      next.seq = this.#emit(entryUUID, type, options.name ?? next.name, {
        csn,
        observedAt,
        seq: this.#nextSeq(next.seq, options.jump),
        payload,
        facts: options.key === undefined ? {} : { key: options.key },
      });
    };
    if (row.valid && !valid) {
      this.#warnInvalid(dn, name);
      emit("workgroup.deleted", {}, { name: row.name });
    } else if (!row.valid && valid) {
      if (!quiet) {
        emit("workgroup.created", { members: this.#resolveAll(values) }, {
          jump: true,
        });
      }
    } else if (valid) {
      if (row.name !== next.name) {
        emit("workgroup.renamed", { previous: row.name }, { jump: true });
      }
      if (!quiet && row.members !== next.members) {
        const before = keyed(JSON.parse(row.members) as string[]);
        const after = keyed(values);
        for (const [key, value] of before) {
          if (!after.has(key)) {
            emit("member.removed", { member: this.#members.resolve(value) }, {
              key,
            });
          }
        }
        for (const [key, value] of after) {
          if (!before.has(key)) {
            emit("member.added", { member: this.#members.resolve(value) }, {
              key,
            });
          }
        }
      }
    }
    store.updateWorkgroup(next);
  }

  /** Resolves an entry's member values (a set already: the server refuses matching duplicates). */
  #resolveAll(values: string[]): Member[] {
    const members = this.#members;
    return values.map((value) => members.resolve(value));
  }

  /** Appends an event; returns its seq. */
  #emit(
    entryUUID: string,
    type: EventType,
    name: string,
    options: {
      csn: string;
      observedAt: string;
      seq: number;
      payload: EventPayload;
      facts?: { csn?: string; key?: string };
      /** The members are the workgroup row's, held by reference (Store.appendMembersEvent). */
      held?: boolean;
      /** The stem of `name` when the caller has it already. */
      stem?: string;
    },
  ): number {
    const facts = options.facts ?? {};
    const event: WorkgroupEvent = {
      v: 1,
      id: eventId({
        entryUUID,
        csn: facts.csn ?? options.csn,
        type,
        key: facts.key ?? name,
      }),
      type,
      workgroup: name,
      stem: options.stem ?? workgroupStem(name)!,
      ...options.payload,
      csn: options.csn,
      seq: options.seq,
      observedAt: options.observedAt,
    };
    if (options.held) this.#store.appendMembersEvent(event, entryUUID);
    else this.#store.appendEvent(event);
    this.#events++;
    return options.seq;
  }

  /** The current time in ISO 8601, formatted once per millisecond. */
  #now(): string {
    const ms = Date.now();
    if (ms !== this.#clockMs) {
      this.#clockMs = ms;
      this.#clockText = new Date(ms).toISOString();
    }
    return this.#clockText;
  }

  #warnInvalid(dn: string, name: string | undefined): void {
    logger.warn(
      "Skipping workgroup {dn}: its name {name} is not of the form stem:name",
      { dn, name: name ?? "(none)" },
    );
  }

  #nameOf(
    dn: string,
    attributes: Record<string, string[]>,
  ): string | undefined {
    const values = attributes[this.#nameAttribute];
    if (values !== undefined && values.length === 1) return values[0];
    const eq = dn.indexOf("=");
    const rdnIsName = eq > 0 &&
      dn.slice(0, eq).trim().toLowerCase() === this.#nameAttribute;
    if (values === undefined || values.length === 0) {
      return rdnIsName ? rdnValue(dn) : undefined;
    }
    if (values.length > 1 && rdnIsName) {
      const rdn = rdnValue(dn);
      if (values.includes(rdn)) return rdn;
    }
    return values[0];
  }
}

function attributeOption(option: string, value: string): string {
  if (!/^[a-zA-Z][a-zA-Z0-9-]*$/.test(value)) {
    throw new RangeError(
      `Cannot create the workgroup applier as ${option} is invalid: ${option} is "${value}", expected an LDAP attribute name`,
    );
  }
  return value.toLowerCase();
}

function keyed(values: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const value of values) {
    const key = dnKey(value);
    if (!map.has(key)) map.set(key, value);
  }
  return map;
}
