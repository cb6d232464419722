/**
 * The consumer's local store: workgroups by entryUUID, people for the uid
 * lookup, per-workgroup sequence numbers, the sync cookies and the outbox of
 * events not yet acknowledged — one SQLite file (`node:sqlite`, WAL).
 *
 * Writes are staged in a batch (one SQLite transaction) and made durable by
 * {@linkcode Store.commit}; a cookie is only ever written in the same batch
 * as the changes it covers, so a crash at any instant resumes consistently.
 *
 * Events that carry a whole member list (`workgroup.created`,
 * `workgroup.snapshot`) can be appended with their members held by reference
 * ({@linkcode Store.appendMembersEvent}): the outbox row names the workgroup
 * and the list is built from the workgroup row and the people directory (see
 * `bindDirectory`) when the row is read. That keeps a first refresh from
 * writing every member list twice. Events stay immutable facts: before anything the list depends on
 * changes — the workgroup row's members (update or delete) or any person —
 * the affected rows are written out in full, in the same transaction as the
 * change. So a row reads the same before and after any commit, crash or
 * restart.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { Member, WorkgroupEvent } from "../events/mod.ts";
import { boundDirectory, dnKey, rdnValue, unbindDirectory } from "./member.ts";

/**
 * The schema version this code writes and reads. Version 2 added outbox rows
 * whose member list is read from the workgroup row (`members_of`).
 */
export const SCHEMA_VERSION = 2;

/** SQLite page cache outside bulk mode, in KiB (SQLite's default). */
const CACHE_KIB = 2000;
/** SQLite page cache in bulk mode (a refresh), in KiB. */
const BULK_CACHE_KIB = 16384;

/** Options of {@linkcode openStore}. */
export interface StoreOptions {
  /**
   * What the store is built for — at least the search base, filter and bind
   * identity of the sync search(es). A store built for another identity is
   * rebuilt. Compared by a SHA-256 fingerprint of its canonical JSON.
   */
  identity: Record<string, unknown>;
  /** SQLite page size of a newly created store, a power of two from 4096 to 65536. Default 8192 (bulk refreshes gain from bigger pages, single-change commits from smaller). */
  pageSize?: number;
}

/** The result of {@linkcode openStore}. */
export interface OpenedStore {
  store: Store;
  /**
   * Set when the existing file could not be used (failed integrity check,
   * other schema version, other identity, unreadable): it was moved to
   * `<path>.old` and a fresh store was created that needs a full refresh and
   * then a `workgroup.snapshot` for every workgroup. The text says why.
   */
  rebuilt?: string;
}

/** A workgroup row. */
export interface WorkgroupRow {
  entryUUID: string;
  dn: string;
  /** The name as found in the directory (also for invalid names). */
  name: string;
  /** True when the name is of the form `stem:name` (events are emitted). */
  valid: boolean;
  /** The member values as a JSON array of strings ("[]" for invalid names). */
  members: string;
  csn: string;
  /** The seq of the workgroup's latest event. */
  seq: number;
}

/** A person row (the uid lookup table). */
export interface PersonRow {
  entryUUID: string;
  dnKey: string;
  uid: string | null;
  uniqueId: string | null;
}

/** An outbox row: an event not yet acknowledged by the Event Generator. */
export interface OutboxRow {
  position: number;
  id: string;
  workgroup: string;
  /** The event as JSON text. */
  body: string;
}

/** The sync streams whose cookies the store keeps. */
export type SyncStream = "workgroups" | "people";

/** Raised when the store cannot be opened, created or written. */
export class StoreError extends Error {
  /** Constructs a StoreError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreError";
  }
}

/**
 * Finds the outbox rows holding a workgroup's members. Dropped while a
 * refresh fills an empty store (built in one pass at its end instead of by
 * one random-order insert per event) and made again when a store is opened
 * without it (a crash in between).
 */
const HELD_INDEX =
  "CREATE INDEX outbox_members_of ON outbox (members_of) WHERE members_of IS NOT NULL";

const SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE workgroups (
  entry_uuid TEXT PRIMARY KEY,
  dn TEXT NOT NULL,
  name TEXT NOT NULL,
  valid INTEGER NOT NULL,
  members TEXT NOT NULL,
  csn TEXT NOT NULL,
  seq INTEGER NOT NULL
);
CREATE TABLE people (
  entry_uuid TEXT PRIMARY KEY,
  dn_key TEXT NOT NULL,
  uid TEXT,
  unique_id TEXT
) WITHOUT ROWID;
CREATE INDEX people_dn_key ON people (dn_key);
CREATE TABLE outbox (
  position INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  workgroup TEXT NOT NULL,
  body TEXT NOT NULL,
  members_of TEXT
);
${HELD_INDEX};
`;

/** Where a body held by reference takes its member list. */
const MEMBERS_SLOT = ',"members":null,';

/**
 * Opens the store at `path`, creating it when missing and rebuilding it when
 * it fails `PRAGMA integrity_check`, has another schema version or was built
 * for another identity (see {@linkcode OpenedStore.rebuilt}).
 */
export function openStore(path: string, options: StoreOptions): OpenedStore {
  const pageSize = options.pageSize ?? 8192;
  if (
    !Number.isInteger(pageSize) || pageSize < 4096 || pageSize > 65536 ||
    (pageSize & (pageSize - 1)) !== 0
  ) {
    throw new StoreError(
      `Cannot open the store as the page size is invalid: pageSize is ${pageSize}, expected a power of two from 4096 to 65536`,
    );
  }
  const fingerprint = identityFingerprint(options.identity);
  let exists = false;
  try {
    exists = Deno.statSync(path).isFile;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new StoreError(`Cannot open the store: path is "${path}"`, {
        cause: error,
      });
    }
  }
  let rebuilt: string | undefined;
  if (exists) {
    rebuilt = checkExisting(path, fingerprint);
    if (rebuilt === undefined) {
      return { store: new Store(new DatabaseSync(path), path) };
    }
    moveAside(path);
  }
  const db = new DatabaseSync(path);
  try {
    db.exec(`PRAGMA page_size = ${pageSize}`);
    db.exec("PRAGMA journal_mode = WAL");
    // As every later commit (see Store): a new store lost to an OS crash
    // is found without its meta table and rebuilt.
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("BEGIN");
    db.exec(SCHEMA);
    const meta = db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
    meta.run("schema_version", SCHEMA_VERSION);
    meta.run("identity", fingerprint);
    // Outbox positions (and so sequence numbers) of a new store start at its
    // creation time in µs: a rebuilt store never hands out a seq below one
    // the old store used.
    meta.run("last_position", Date.now() * 1000);
    meta.run("snapshot_pending", rebuilt === undefined ? 0 : 1);
    db.exec("COMMIT");
  } catch (error) {
    db.close();
    throw new StoreError(`Cannot create the store: path is "${path}"`, {
      cause: error,
    });
  }
  return { store: new Store(db, path), rebuilt };
}

/** The SHA-256 fingerprint of an identity record's canonical JSON. */
export function identityFingerprint(identity: Record<string, unknown>): string {
  return createHash("sha256").update(canonicalJson(identity)).digest("hex");
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${
      entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`)
        .join(",")
    }}`;
  }
  return JSON.stringify(value);
}

/** Returns why the existing store cannot be used, or undefined when it can. */
function checkExisting(path: string, fingerprint: string): string | undefined {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path);
    const problems = db.prepare("PRAGMA integrity_check(5)").all()
      .map((row) => String(Object.values(row)[0]))
      .filter((text) => text !== "ok");
    if (problems.length > 0) {
      return `the store failed PRAGMA integrity_check: ${problems.join("; ")}`;
    }
    const hasMeta = db.prepare(
      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
    ).get();
    if (!hasMeta) return "the store has no meta table (not a wgsync store)";
    const get = db.prepare("SELECT value FROM meta WHERE key = ?");
    const version = get.get("schema_version")?.value;
    if (version !== SCHEMA_VERSION) {
      return `the store has schema version ${version}, expected ${SCHEMA_VERSION}`;
    }
    if (get.get("identity")?.value !== fingerprint) {
      return "the store was built for another search base, filter or bind identity";
    }
    return undefined;
  } catch (error) {
    return `the store cannot be read: ${
      error instanceof Error ? error.message : String(error)
    }`;
  } finally {
    try {
      db?.close();
    } catch {
      // A corrupt file may fail to close cleanly; it is moved aside anyway.
    }
  }
}

function moveAside(path: string): void {
  for (
    const [from, to] of [[path, `${path}.old`], [
      `${path}-wal`,
      `${path}.old-wal`,
    ]]
  ) {
    try {
      Deno.removeSync(to);
    } catch {
      // Nothing to replace.
    }
    try {
      Deno.renameSync(from, to);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw new StoreError(
          `Cannot move the unusable store aside: path is "${from}"`,
          { cause: error },
        );
      }
    }
  }
  try {
    Deno.removeSync(`${path}-shm`);
  } catch {
    // No shared-memory file.
  }
}

/**
 * An open store. All writes go into the current batch (one SQLite
 * transaction) until {@linkcode Store.commit}.
 */
export class Store {
  #db: DatabaseSync;
  #path: string;
  #inBatch = false;
  #bulk = 0;
  #committedPosition: number;
  #stagedPosition: number;
  #waiters: (() => void)[] = [];
  #closed = false;
  #heldIndexDropped = false;
  #s: Record<string, StatementSync>;

  /** Use {@linkcode openStore}. */
  constructor(db: DatabaseSync, path: string) {
    this.#db = db;
    this.#path = path;
    db.exec("PRAGMA journal_mode = WAL");
    // WAL + NORMAL: a commit survives a process crash (kill -9) at once: it
    // is in the WAL file; only checkpoints are fsynced. After an OS crash or
    // power loss the store may lose its last commits — cookie, state and
    // events together, never one without the others — and the changes after
    // the older cookie are replayed with the same event ids (downstream
    // de-duplicates by id), though possibly with other seq values than the
    // lost events had. FULL would add an fsync to every commit (the persist
    // phase commits once per change).
    db.exec("PRAGMA synchronous = NORMAL");
    // A bulk refresh grows the WAL; do not keep it that big afterwards.
    db.exec("PRAGMA journal_size_limit = 67108864");
    this.#ensureHeldIndex();
    const s = (sql: string) => db.prepare(sql);
    this.#s = {
      metaGet: s("SELECT value FROM meta WHERE key = ?"),
      metaSet: s("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"),
      metaDelete: s("DELETE FROM meta WHERE key = ?"),
      wgGet: s(
        "SELECT dn, name, valid, members, csn, seq FROM workgroups WHERE entry_uuid = ?",
      ),
      wgInsert: s(
        "INSERT INTO workgroups (entry_uuid, dn, name, valid, members, csn, seq) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (entry_uuid) DO NOTHING",
      ),
      wgUpdate: s(
        "UPDATE workgroups SET dn = ?, name = ?, valid = ?, members = ?, csn = ?, seq = ? WHERE entry_uuid = ?",
      ),
      wgDelete: s("DELETE FROM workgroups WHERE entry_uuid = ?"),
      wgCount: s("SELECT count(*) AS n FROM workgroups WHERE valid = 1"),
      wgCountAll: s("SELECT count(*) AS n FROM workgroups"),
      wgUUIDs: s("SELECT entry_uuid FROM workgroups"),
      wgValid: s(
        "SELECT entry_uuid, dn, name, valid, members, csn, seq FROM workgroups WHERE valid = 1",
      ),
      wgSetSeq: s("UPDATE workgroups SET seq = ? WHERE entry_uuid = ?"),
      personGet: s(
        "SELECT dn_key, uid, unique_id FROM people WHERE entry_uuid = ?",
      ),
      personSet: s(
        "INSERT OR REPLACE INTO people (entry_uuid, dn_key, uid, unique_id) VALUES (?, ?, ?, ?)",
      ),
      personDelete: s("DELETE FROM people WHERE entry_uuid = ?"),
      personAll: s("SELECT entry_uuid, dn_key, uid, unique_id FROM people"),
      personCount: s("SELECT count(*) AS n FROM people"),
      outboxAppend: s(
        "INSERT INTO outbox (position, id, workgroup, body, members_of) VALUES (?, ?, ?, ?, ?)",
      ),
      outboxRead: s(
        "SELECT position, id, workgroup, body, members_of FROM outbox WHERE position > ? AND position <= ? ORDER BY position LIMIT ?",
      ),
      outboxHeldBy: s(
        "SELECT position, body FROM outbox WHERE members_of = ?",
      ),
      outboxHeldAny: s(
        "SELECT 1 AS n FROM outbox WHERE members_of IS NOT NULL LIMIT 1",
      ),
      outboxHeld: s(
        "SELECT position, body, members_of FROM outbox WHERE members_of IS NOT NULL",
      ),
      outboxWriteOut: s(
        "UPDATE outbox SET body = ?, members_of = NULL WHERE position = ?",
      ),
      wgMembers: s("SELECT members FROM workgroups WHERE entry_uuid = ?"),
      personByKey: s(
        "SELECT uid, unique_id FROM people WHERE dn_key = ? LIMIT 1",
      ),
      personAny: s("SELECT 1 AS n FROM people LIMIT 1"),
      outboxDelete: s("DELETE FROM outbox WHERE position = ?"),
      outboxDepth: s("SELECT count(*) AS n FROM outbox"),
      outboxMax: s("SELECT max(position) AS n FROM outbox"),
    };
    this.#committedPosition = Math.max(
      Number(this.#meta("last_position") ?? 0),
      Number(this.#s.outboxMax.get()?.n ?? 0),
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
    if (this.#inBatch) return;
    this.#db.exec("BEGIN");
    this.#inBatch = true;
  }

  /** Makes the open batch durable (no-op without one) and wakes {@linkcode Store.committed} waiters. */
  commit(): void {
    if (!this.#inBatch) return;
    const advanced = this.#stagedPosition > this.#committedPosition;
    if (advanced) this.#s.metaSet.run("last_position", this.#stagedPosition);
    this.#db.exec("COMMIT");
    this.#inBatch = false;
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
    // A directory changed along with the discarded writes no longer matches
    // the people table: resolve held member lists from the table until a
    // people applier reloads and binds one again.
    unbindDirectory(this);
    this.#db.exec("ROLLBACK");
    this.#inBatch = false;
    // An index made again inside the discarded batch is gone again.
    if (!this.#heldIndexDropped) this.#ensureHeldIndex();
    this.#stagedPosition = this.#committedPosition;
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
    if (this.#bulk++ === 0) {
      this.#db.exec("PRAGMA wal_autocheckpoint = 0");
      // A refresh inserts rows keyed by entryUUID: with SQLite's default
      // 2 MiB page cache the key index of 100,000 workgroups does not fit
      // and inserts in random key order re-read its pages (bare SQLite,
      // 100,000 rows in random order: 1.1 s with 2 MiB, 0.7 s with 16 MiB).
      // Memory only; durability is unchanged.
      this.#db.exec(`PRAGMA cache_size = -${BULK_CACHE_KIB}`);
      if (this.entryCount() === 0 && !this.#inBatch) {
        // An empty store fills up: build the held-members index at the end.
        this.#db.exec("DROP INDEX IF EXISTS outbox_members_of");
        this.#heldIndexDropped = true;
      }
    }
  }

  /**
   * Leaves bulk mode; the outermost call restores automatic checkpoints (the
   * next commit then checkpoints the refresh, or call
   * {@linkcode Store.checkpoint} when idle).
   */
  endBulk(): void {
    if (this.#bulk === 0) return;
    if (--this.#bulk === 0) {
      if (this.#heldIndexDropped) {
        this.#heldIndexDropped = false;
        this.#ensureHeldIndex();
      }
      this.#db.exec("PRAGMA wal_autocheckpoint = 1000");
      this.#db.exec(`PRAGMA cache_size = -${CACHE_KIB}`);
    }
  }

  /** Copies the WAL into the database file (passive: never waits), outside a batch only. */
  checkpoint(): void {
    this.#assertOpen();
    if (!this.#inBatch) this.#db.exec("PRAGMA wal_checkpoint(PASSIVE)");
  }

  /** The stored cookie of a sync stream, undefined when it must start with a full refresh. */
  cookie(stream: SyncStream): Uint8Array | undefined {
    const value = this.#meta(`cookie:${stream}`);
    return value instanceof Uint8Array ? value : undefined;
  }

  /** Stages the cookie of a sync stream (undefined forgets it, forcing a full refresh). */
  setCookie(stream: SyncStream, cookie: Uint8Array | undefined): void {
    this.stage();
    if (cookie === undefined) this.#s.metaDelete.run(`cookie:${stream}`);
    else this.#s.metaSet.run(`cookie:${stream}`, cookie);
  }

  /** True when the next completed workgroup refresh must emit a snapshot of every workgroup. */
  get snapshotPending(): boolean {
    return Number(this.#meta("snapshot_pending") ?? 0) === 1;
  }

  /** Stages the snapshot-pending flag. */
  setSnapshotPending(pending: boolean): void {
    this.stage();
    this.#s.metaSet.run("snapshot_pending", pending ? 1 : 0);
  }

  /** Reads a workgroup by entryUUID. */
  workgroup(entryUUID: string): WorkgroupRow | undefined {
    const row = this.#s.wgGet.get(entryUUID);
    if (!row) return undefined;
    return {
      entryUUID,
      dn: row.dn as string,
      name: row.name as string,
      valid: row.valid === 1,
      members: row.members as string,
      csn: row.csn as string,
      seq: Number(row.seq),
    };
  }

  /** Stages an insert of a workgroup row unless its entryUUID has one; returns whether it was inserted. */
  insertWorkgroup(row: WorkgroupRow): boolean {
    this.stage();
    const { changes } = this.#s.wgInsert.run(
      row.entryUUID,
      row.dn,
      row.name,
      row.valid ? 1 : 0,
      row.members,
      row.csn,
      row.seq,
    );
    return Number(changes) === 1;
  }

  /** Stages an update of an existing workgroup row. */
  updateWorkgroup(row: WorkgroupRow): void {
    this.stage();
    this.#writeOutHeld(row.entryUUID, row.members);
    this.#s.wgUpdate.run(
      row.dn,
      row.name,
      row.valid ? 1 : 0,
      row.members,
      row.csn,
      row.seq,
      row.entryUUID,
    );
  }

  /** Stages a new seq for a workgroup row. */
  setWorkgroupSeq(entryUUID: string, seq: number): void {
    this.stage();
    this.#s.wgSetSeq.run(seq, entryUUID);
  }

  /** Stages the removal of a workgroup row. */
  deleteWorkgroup(entryUUID: string): void {
    this.stage();
    this.#writeOutHeld(entryUUID);
    this.#s.wgDelete.run(entryUUID);
  }

  /** The number of workgroups with a valid name. */
  workgroupCount(): number {
    return Number(this.#s.wgCount.get()?.n ?? 0);
  }

  /** The number of workgroup rows, valid names or not. */
  entryCount(): number {
    return Number(this.#s.wgCountAll.get()?.n ?? 0);
  }

  /** Iterates the entryUUIDs of all workgroup rows. */
  *workgroupUUIDs(): Generator<string> {
    for (const row of this.#s.wgUUIDs.iterate()) yield row.entry_uuid as string;
  }

  /** Iterates the workgroups with a valid name. */
  *validWorkgroups(): Generator<WorkgroupRow> {
    for (const row of this.#s.wgValid.iterate()) {
      yield {
        entryUUID: row.entry_uuid as string,
        dn: row.dn as string,
        name: row.name as string,
        valid: true,
        members: row.members as string,
        csn: row.csn as string,
        seq: Number(row.seq),
      };
    }
  }

  /** Reads a person by entryUUID. */
  person(entryUUID: string): PersonRow | undefined {
    const row = this.#s.personGet.get(entryUUID);
    if (!row) return undefined;
    return {
      entryUUID,
      dnKey: row.dn_key as string,
      uid: row.uid as string | null,
      uniqueId: row.unique_id as string | null,
    };
  }

  /** Stages an insert or replacement of a person. */
  setPerson(row: PersonRow): void {
    this.stage();
    this.#writeOutAllHeld();
    this.#s.personSet.run(row.entryUUID, row.dnKey, row.uid, row.uniqueId);
  }

  /** Stages the removal of a person. */
  deletePerson(entryUUID: string): void {
    this.stage();
    this.#writeOutAllHeld();
    this.#s.personDelete.run(entryUUID);
  }

  /** Iterates all people. */
  *people(): Generator<PersonRow> {
    for (const row of this.#s.personAll.iterate()) {
      yield {
        entryUUID: row.entry_uuid as string,
        dnKey: row.dn_key as string,
        uid: row.uid as string | null,
        uniqueId: row.unique_id as string | null,
      };
    }
  }

  /** The number of people rows. */
  personCount(): number {
    return Number(this.#s.personCount.get()?.n ?? 0);
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
    this.#s.outboxAppend.run(
      position,
      event.id,
      event.workgroup,
      JSON.stringify(event),
      null,
    );
    this.#stagedPosition = position;
    return position;
  }

  /**
   * Stages an event whose `members` are those of the workgroup row
   * `entryUUID` (each resolved as MemberDirectory.resolve would), held by reference
   * until the row is read; returns its position. The workgroup row must hold
   * exactly the event's member list once the batch commits: insert it in the
   * same batch, or leave it as it is (a snapshot). Any later change of the row
   * or of a person writes the event out in full first.
   */
  appendMembersEvent(
    event: Omit<WorkgroupEvent, "members">,
    entryUUID: string,
  ): number {
    this.stage();
    const position = this.#stagedPosition + 1;
    const { v, id, type, workgroup, stem, csn, seq, observedAt } = event;
    // The key order of an event with members (see WorkgroupEvent); the null
    // is replaced by the list when the row is read or written out.
    const body = JSON.stringify({
      v,
      id,
      type,
      workgroup,
      stem,
      members: null,
      csn,
      seq,
      observedAt,
    });
    this.#s.outboxAppend.run(position, id, workgroup, body, entryUUID);
    this.#stagedPosition = position;
    return position;
  }

  /** Reads up to `limit` committed outbox rows after `position`, in order. */
  readOutbox(position: number, limit: number): OutboxRow[] {
    const rows = this.#s.outboxRead.all(
      position,
      this.#committedPosition,
      limit,
    );
    const resolve = rows.some((row) => row.members_of !== null)
      ? this.#resolver()
      : undefined;
    return rows.map((row) => ({
      position: Number(row.position),
      id: row.id as string,
      workgroup: row.workgroup as string,
      body: row.members_of === null ? row.body as string : this.#fullBody(
        row.body as string,
        this.#storedMembers(row.members_of as string),
        resolve,
      ),
    }));
  }

  /**
   * Removes acknowledged outbox rows: joins the open batch when there is one
   * (they become durable with it), else commits at once.
   */
  deleteOutbox(positions: Iterable<number>): void {
    const joined = this.#inBatch;
    this.stage();
    for (const position of positions) this.#s.outboxDelete.run(position);
    if (!joined) this.commit();
  }

  /** The number of events in the outbox (committed or staged). */
  outboxDepth(): number {
    return Number(this.#s.outboxDepth.get()?.n ?? 0);
  }

  /** Commits the open batch, checkpoints and closes the database. */
  close(): void {
    if (this.#closed) return;
    try {
      this.commit();
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

  /** The member values a held body takes: those of the workgroup row. */
  #storedMembers(entryUUID: string): string {
    const members = this.#s.wgMembers.get(entryUUID)?.members;
    if (typeof members !== "string") {
      // Cannot happen: a row is written out before its workgroup is deleted.
      throw new StoreError(
        `Cannot read an outbox event as the workgroup holding its members is missing: entryUUID is "${entryUUID}"`,
      );
    }
    return members;
  }

  /**
   * How held member lists are resolved: with the directory the people
   * applier keeps equal to the people table, else (no people applier in
   * this process yet) from the people table itself.
   */
  #resolver(): (dn: string) => Member {
    const directory = boundDirectory(this);
    if (directory !== undefined) return (dn) => directory.resolve(dn);
    if (this.#s.personAny.get() === undefined) {
      return (dn) => ({ dn, id: rdnValue(dn), uid: null });
    }
    const get = this.#s.personByKey;
    return (dn) => {
      const person = get.get(dnKey(dn));
      // The same resolution as MemberDirectory.resolve.
      return {
        dn,
        id: (person?.unique_id as string | null | undefined) ?? rdnValue(dn),
        uid: (person?.uid as string | null | undefined) ?? null,
      };
    };
  }

  /** A held body with its member list filled in. */
  #fullBody(
    body: string,
    members: string,
    resolve = this.#resolver(),
  ): string {
    const slot = body.indexOf(MEMBERS_SLOT);
    if (slot < 0) {
      throw new StoreError(
        "Cannot read an outbox event held by reference as its body has no members slot",
      );
    }
    let list = "";
    for (const dn of JSON.parse(members) as string[]) {
      list += (list === "" ? "" : ",") + JSON.stringify(resolve(dn));
    }
    return `${body.slice(0, slot)},"members":[${list}],${
      body.slice(slot + MEMBERS_SLOT.length)
    }`;
  }

  /**
   * Writes out in full the rows holding the members of `entryUUID` before its
   * row changes (`members` is the new list; undefined: deleted).
   */
  #writeOutHeld(entryUUID: string, members?: string): void {
    const rows = this.#s.outboxHeldBy.all(entryUUID);
    if (rows.length === 0) return;
    const stored = this.#storedMembers(entryUUID);
    if (stored === members) return; // The list the rows take is unchanged.
    for (const row of rows) {
      this.#s.outboxWriteOut.run(
        this.#fullBody(row.body as string, stored),
        row.position,
      );
    }
  }

  /** Writes out every held row before a person (and so a member's uid or id) changes. */
  #writeOutAllHeld(): void {
    if (this.#s.outboxHeldAny.get() === undefined) return;
    const resolve = this.#resolver();
    for (const row of this.#s.outboxHeld.all()) {
      this.#s.outboxWriteOut.run(
        this.#fullBody(
          row.body as string,
          this.#storedMembers(row.members_of as string),
          resolve,
        ),
        row.position,
      );
    }
  }

  /** Creates the held-members index when it is missing (joins an open batch). */
  #ensureHeldIndex(): void {
    const exists = this.#db.prepare(
      "SELECT 1 AS n FROM sqlite_master WHERE type = 'index' AND name = 'outbox_members_of'",
    ).get();
    if (exists === undefined) this.#db.exec(HELD_INDEX);
  }

  #meta(key: string): unknown {
    return this.#s.metaGet.get(key)?.value;
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new StoreError(
        `Cannot write to the store as it is closed: path is "${this.#path}"`,
      );
    }
  }
}
