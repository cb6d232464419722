/**
 * An open store: workgroups by entryUUID, people for the uid lookup,
 * per-workgroup sequence numbers, the sync cookies and the outbox of events
 * not yet acknowledged — one SQLite file (`node:sqlite`, WAL).
 *
 * Writes are staged in a batch (one SQLite transaction) and made durable by
 * {@linkcode Store.commit}; a cookie is only ever written in the same batch
 * as the changes it covers, so a crash at any instant resumes consistently.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import type { WorkgroupEvent } from "../../events/mod.ts";
import { unbindDirectory } from "../member.ts";
import { StoreError, transientProblem } from "./errors.ts";
import { Outbox } from "./outbox.ts";
import { BulkMode, setDurability } from "./tuning.ts";
import {
  type OutboxRow,
  type PersonRow,
  type SyncStream,
  type WorkgroupRow,
} from "./schema.ts";
import { MetaTable, PersonTable, RowCounts, WorkgroupTable } from "./tables.ts";

/**
 * An open store (see {@linkcode openStore}). All writes go into the current
 * batch (one SQLite transaction) until {@linkcode Store.commit}.
 */
export class Store {
  #db: DatabaseSync;
  #path: string;
  #outbox: Outbox;
  #inBatch = false;
  #bulk: BulkMode;
  #committedPosition: number;
  #stagedPosition: number;
  #waiters: (() => void)[] = [];
  #closed = false;
  #counts: RowCounts;
  #meta: MetaTable;
  #workgroups: WorkgroupTable;
  #people: PersonTable;

  /** Use {@linkcode openStore}. */
  constructor(db: DatabaseSync, path: string) {
    this.#db = db;
    this.#path = path;
    setDurability(db);
    this.#bulk = new BulkMode(db);
    this.#bulk.ensureHeldIndex();
    this.#meta = new MetaTable(db);
    this.#workgroups = new WorkgroupTable(db);
    this.#people = new PersonTable(db);
    this.#outbox = new Outbox(db, this);
    this.#counts = new RowCounts(() => ({
      ...this.#workgroups.count(),
      outbox: this.#outbox.depth(),
    }));
    this.#committedPosition = Math.max(
      Number(this.#meta.get("last_position") ?? 0),
      this.#outbox.maxPosition(),
    );
    this.#stagedPosition = this.#committedPosition;
  }

  /** The file path of the store. */
  get path(): string {
    return this.#path;
  }

  /** True while a batch (transaction) is open. */
  get inBatch(): boolean {
    return this.#inBatch;
  }

  /** The highest outbox position made durable by a commit. */
  get committedPosition(): number {
    return this.#committedPosition;
  }

  /** Opens a batch if none is open; later writes join it until {@linkcode Store.commit}. */
  stage(): void {
    this.#assertOpen();
    if (this.#inBatch) {
      // After some errors (a full disk) SQLite rolls the transaction back by
      // itself: later writes must not go on outside one.
      if (!this.#db.isTransaction) {
        this.#discarded();
        throw new StoreError(
          `Cannot write to the store as SQLite rolled back the batch after an earlier error: path is "${this.#path}"`,
        );
      }
      return;
    }
    this.#db.exec("BEGIN");
    this.#inBatch = true;
  }

  /**
   * Makes the open batch durable (no-op without one) and wakes
   * {@linkcode Store.committed} waiters. A commit that fails (the disk full)
   * leaves the store as it was before the batch; the error names the store
   * and the problem.
   */
  commit(): void {
    if (!this.#inBatch) return;
    const advanced = this.#stagedPosition > this.#committedPosition;
    try {
      if (!this.#db.isTransaction) {
        throw new StoreError(
          "SQLite rolled back the batch after an earlier error",
        );
      }
      if (advanced) this.#meta.set("last_position", this.#stagedPosition);
      this.#db.exec("COMMIT");
    } catch (error) {
      if (!this.#db.isTransaction) this.#discarded();
      const problem = transientProblem(error);
      throw new StoreError(
        `Cannot commit to the store${
          problem === undefined ? "" : ` as ${problem}`
        }: path is "${this.#path}"`,
        { cause: error },
      );
    }
    this.#inBatch = false;
    this.#counts.commit();
    if (advanced) {
      this.#committedPosition = this.#stagedPosition;
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Discards the open batch (no-op without one). */
  rollback(): void {
    if (!this.#inBatch) return;
    if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
    this.#discarded();
  }

  /** The open batch is gone (rolled back by us or by SQLite). */
  #discarded(): void {
    // A directory changed along with the discarded writes no longer matches
    // the people table: resolve held member lists from the table until a
    // people applier reloads and binds one again.
    unbindDirectory(this);
    this.#inBatch = false;
    this.#counts.discard();
    this.#stagedPosition = this.#committedPosition;
    // An index made again inside the discarded batch is gone again. It only
    // speeds up lookups: on a full disk it is made on the next open.
    try {
      if (!this.#bulk.heldIndexDropped) this.#bulk.ensureHeldIndex();
    } catch {
      // Made again by the next Store on this file.
    }
  }

  /** Resolves at the next commit that made new outbox events durable. */
  committed(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /**
   * Enters bulk mode (nestable): automatic WAL checkpoints are suspended, so
   * a long refresh does not pay for them commit by commit.
   */
  beginBulk(): void {
    this.#assertOpen();
    this.#bulk.begin(() => this.entryCount() === 0 && !this.#inBatch);
  }

  /**
   * Leaves bulk mode; the outermost call restores automatic checkpoints (the
   * next commit then checkpoints the refresh, or call
   * {@linkcode Store.checkpoint} when idle).
   */
  endBulk(): void {
    this.#bulk.end();
  }

  /** Copies the WAL into the database file (passive: never waits), outside a batch only. */
  checkpoint(): void {
    this.#assertOpen();
    if (!this.#inBatch) this.#db.exec("PRAGMA wal_checkpoint(PASSIVE)");
  }

  /** The stored cookie of a sync stream, undefined when it must start with a full refresh. */
  cookie(stream: SyncStream): Uint8Array | undefined {
    const value = this.#meta.get(`cookie:${stream}`);
    return value instanceof Uint8Array ? value : undefined;
  }

  /** Stages the cookie of a sync stream (undefined forgets it, forcing a full refresh). */
  setCookie(stream: SyncStream, cookie: Uint8Array | undefined): void {
    this.stage();
    if (cookie === undefined) this.#meta.delete(`cookie:${stream}`);
    else this.#meta.set(`cookie:${stream}`, cookie);
  }

  /** True when the next completed workgroup refresh must emit a snapshot of every workgroup. */
  get snapshotPending(): boolean {
    return Number(this.#meta.get("snapshot_pending") ?? 0) === 1;
  }

  /** Stages the snapshot-pending flag. */
  setSnapshotPending(pending: boolean): void {
    this.stage();
    this.#meta.set("snapshot_pending", pending ? 1 : 0);
  }

  /** Reads a workgroup by entryUUID. */
  workgroup(entryUUID: string): WorkgroupRow | undefined {
    return this.#workgroups.get(entryUUID);
  }

  /** Stages an insert of a workgroup row unless its entryUUID has one; returns whether it was inserted. */
  insertWorkgroup(row: WorkgroupRow): boolean {
    this.stage();
    if (!this.#workgroups.insert(row)) return false;
    this.#counts.delta.entries++;
    if (row.valid) this.#counts.delta.valid++;
    return true;
  }

  /** Stages an update of an existing workgroup row. */
  updateWorkgroup(row: WorkgroupRow): void {
    this.stage();
    this.#outbox.writeOutHeld(row.entryUUID, row.members);
    const was = this.#workgroups.validOf(row.entryUUID);
    if (was !== undefined) {
      this.#counts.delta.valid += (row.valid ? 1 : 0) - (was ? 1 : 0);
    }
    this.#workgroups.update(row);
  }

  /** Stages a new seq for a workgroup row. */
  setWorkgroupSeq(entryUUID: string, seq: number): void {
    this.stage();
    this.#workgroups.setSeq(entryUUID, seq);
  }

  /** Stages a new csn for a workgroup row (a change of nothing else it holds). */
  setWorkgroupCsn(entryUUID: string, csn: string): void {
    this.stage();
    this.#workgroups.setCsn(entryUUID, csn);
  }

  /** Stages the removal of a workgroup row. */
  deleteWorkgroup(entryUUID: string): void {
    this.stage();
    this.#outbox.writeOutHeld(entryUUID);
    const was = this.#workgroups.validOf(entryUUID);
    if (was === undefined) return;
    this.#workgroups.delete(entryUUID);
    this.#counts.delta.entries--;
    if (was) this.#counts.delta.valid--;
  }

  /** The number of workgroups with a valid name. */
  workgroupCount(): number {
    return this.#counts.get("valid");
  }

  /** The number of workgroup rows, valid names or not. */
  entryCount(): number {
    return this.#counts.get("entries");
  }

  /** Iterates the entryUUIDs of all workgroup rows. */
  *workgroupUUIDs(): Generator<string> {
    yield* this.#workgroups.uuids();
  }

  /** Iterates the workgroups with a valid name. */
  *validWorkgroups(): Generator<WorkgroupRow> {
    yield* this.#workgroups.valid();
  }

  /** Reads a person by entryUUID. */
  person(entryUUID: string): PersonRow | undefined {
    return this.#people.get(entryUUID);
  }

  /** Stages an insert or replacement of a person. */
  setPerson(row: PersonRow): void {
    this.stage();
    this.#outbox.writeOutAllHeld();
    this.#people.set(row);
  }

  /** Stages the removal of a person. */
  deletePerson(entryUUID: string): void {
    this.stage();
    this.#outbox.writeOutAllHeld();
    this.#people.delete(entryUUID);
  }

  /** Iterates all people. */
  *people(): Generator<PersonRow> {
    yield* this.#people.all();
  }

  /** The number of people rows. */
  personCount(): number {
    return this.#people.count();
  }

  /**
   * The position the next appended event gets. Positions increase for the
   * life of the store and start above any of the store it replaced.
   */
  get nextPosition(): number {
    return this.#stagedPosition + 1;
  }

  /** Stages an event into the outbox at {@linkcode Store.nextPosition} and returns that position. */
  appendEvent(event: WorkgroupEvent): number {
    this.stage();
    const position = this.#stagedPosition + 1;
    this.#outbox.append(position, event);
    this.#counts.delta.outbox++;
    this.#stagedPosition = position;
    return position;
  }

  /**
   * Stages an event whose `members` are those of the workgroup row
   * `entryUUID` (each resolved as MemberDirectory.resolve would), held by
   * reference until the row is read; returns its position. The workgroup row
   * must hold exactly the event's member list once the batch commits: insert
   * it in the same batch, or leave it as it is (a snapshot). Any later change
   * of the row or of a person writes the event out in full first.
   */
  appendMembersEvent(
    event: Omit<WorkgroupEvent, "members">,
    entryUUID: string,
  ): number {
    this.stage();
    const position = this.#stagedPosition + 1;
    this.#outbox.appendHeld(position, event, entryUUID);
    this.#counts.delta.outbox++;
    this.#stagedPosition = position;
    return position;
  }

  /** Reads up to `limit` committed outbox rows after `position`, in order. */
  readOutbox(position: number, limit: number): OutboxRow[] {
    return this.#outbox.read(position, this.#committedPosition, limit);
  }

  /**
   * Removes acknowledged outbox rows: joins the open batch when there is one
   * (they become durable with it), else commits at once.
   */
  deleteOutbox(positions: Iterable<number>): void {
    const joined = this.#inBatch;
    this.stage();
    this.#counts.delta.outbox -= this.#outbox.delete(positions);
    if (!joined) this.commit();
  }

  /** The number of events in the outbox (committed or staged). */
  outboxDepth(): number {
    return this.#counts.get("outbox");
  }

  /**
   * Commits the open batch, checkpoints and closes the database. When the
   * commit fails the batch is rolled back (its changes come again from the
   * cookie next time), the database closed all the same, and the error
   * thrown.
   */
  close(): void {
    if (this.#closed) return;
    try {
      try {
        this.commit();
      } catch (error) {
        this.rollback();
        throw error;
      }
      this.#db.exec("PRAGMA wal_checkpoint(PASSIVE)");
    } finally {
      this.#closed = true;
      this.#db.close();
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** True once {@linkcode Store.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new StoreError(
        `Cannot write to the store as it is closed: path is "${this.#path}"`,
      );
    }
  }
}
