/**
 * The `workgroups` and `people` tables: their statements, prepared once, and
 * typed reads and writes. Batching, counts and the outbox's held member
 * lists are the {@linkcode Store}'s business; these only touch their table.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import {
  PERSON_COLUMNS,
  type PersonRow,
  toCount,
  toPerson,
  toWorkgroup,
  WORKGROUP_COLUMNS,
  type WorkgroupRow,
} from "./schema.ts";

/** The `workgroups` table. */
export class WorkgroupTable {
  #get: StatementSync;
  #insert: StatementSync;
  #update: StatementSync;
  #delete: StatementSync;
  #validOf: StatementSync;
  #count: StatementSync;
  #countAll: StatementSync;
  #uuids: StatementSync;
  #valid: StatementSync;
  #setSeq: StatementSync;
  #setCsn: StatementSync;

  /** Prepares the statements on `db`. */
  constructor(db: DatabaseSync) {
    const s = (sql: string) => db.prepare(sql);
    this.#get = s(
      `SELECT ${WORKGROUP_COLUMNS} FROM workgroups WHERE entry_uuid = ?`,
    );
    this.#insert = s(
      `INSERT INTO workgroups (${WORKGROUP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (entry_uuid) DO NOTHING`,
    );
    this.#update = s(
      "UPDATE workgroups SET dn = ?, name = ?, valid = ?, members = ?, csn = ?, seq = ? WHERE entry_uuid = ?",
    );
    this.#delete = s("DELETE FROM workgroups WHERE entry_uuid = ?");
    this.#validOf = s("SELECT valid FROM workgroups WHERE entry_uuid = ?");
    this.#count = s("SELECT count(*) AS n FROM workgroups WHERE valid = 1");
    this.#countAll = s("SELECT count(*) AS n FROM workgroups");
    this.#uuids = s("SELECT entry_uuid FROM workgroups");
    this.#valid = s(
      `SELECT ${WORKGROUP_COLUMNS} FROM workgroups WHERE valid = 1`,
    );
    this.#setSeq = s("UPDATE workgroups SET seq = ? WHERE entry_uuid = ?");
    this.#setCsn = s("UPDATE workgroups SET csn = ? WHERE entry_uuid = ?");
  }

  /** The row of `entryUUID`. */
  get(entryUUID: string): WorkgroupRow | undefined {
    const row = this.#get.get(entryUUID);
    return row === undefined ? undefined : toWorkgroup(row);
  }

  /** Whether the row of `entryUUID` has a valid name; undefined without a row. */
  validOf(entryUUID: string): boolean | undefined {
    const row = this.#validOf.get(entryUUID);
    return row === undefined ? undefined : row.valid === 1;
  }

  /** Inserts `row` unless its entryUUID has one; returns whether it did. */
  insert(row: WorkgroupRow): boolean {
    const { changes } = this.#insert.run(
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

  /** Replaces the row of `row.entryUUID`. */
  update(row: WorkgroupRow): void {
    this.#update.run(
      row.dn,
      row.name,
      row.valid ? 1 : 0,
      row.members,
      row.csn,
      row.seq,
      row.entryUUID,
    );
  }

  /** Sets the seq of a row. */
  setSeq(entryUUID: string, seq: number): void {
    this.#setSeq.run(seq, entryUUID);
  }

  /** Sets the csn of a row. */
  setCsn(entryUUID: string, csn: string): void {
    this.#setCsn.run(csn, entryUUID);
  }

  /** Deletes the row of `entryUUID`. */
  delete(entryUUID: string): void {
    this.#delete.run(entryUUID);
  }

  /** Counts rows with `count(*)`: all of them, and those with a valid name. */
  count(): { entries: number; valid: number } {
    return {
      entries: toCount(this.#countAll.get()),
      valid: toCount(this.#count.get()),
    };
  }

  /** Iterates the entryUUIDs of all rows. */
  *uuids(): Generator<string> {
    for (const row of this.#uuids.iterate()) yield row.entry_uuid as string;
  }

  /** Iterates the rows with a valid name. */
  *valid(): Generator<WorkgroupRow> {
    for (const row of this.#valid.iterate()) yield toWorkgroup(row);
  }
}

/** The `people` table. */
export class PersonTable {
  #get: StatementSync;
  #set: StatementSync;
  #delete: StatementSync;
  #all: StatementSync;
  #count: StatementSync;

  /** Prepares the statements on `db`. */
  constructor(db: DatabaseSync) {
    const s = (sql: string) => db.prepare(sql);
    this.#get = s(`SELECT ${PERSON_COLUMNS} FROM people WHERE entry_uuid = ?`);
    this.#set = s(
      `INSERT OR REPLACE INTO people (${PERSON_COLUMNS}) VALUES (?, ?, ?, ?)`,
    );
    this.#delete = s("DELETE FROM people WHERE entry_uuid = ?");
    this.#all = s(`SELECT ${PERSON_COLUMNS} FROM people`);
    this.#count = s("SELECT count(*) AS n FROM people");
  }

  /** The row of `entryUUID`. */
  get(entryUUID: string): PersonRow | undefined {
    const row = this.#get.get(entryUUID);
    return row === undefined ? undefined : toPerson(row);
  }

  /** Inserts or replaces `row`. */
  set(row: PersonRow): void {
    this.#set.run(row.entryUUID, row.dnKey, row.uid, row.uniqueId);
  }

  /** Deletes the row of `entryUUID`. */
  delete(entryUUID: string): void {
    this.#delete.run(entryUUID);
  }

  /** Iterates all rows. */
  *all(): Generator<PersonRow> {
    for (const row of this.#all.iterate()) yield toPerson(row);
  }

  /** The number of rows. */
  count(): number {
    return toCount(this.#count.get());
  }
}

/** The `meta` table: schema version, identity, cookies, flags. */
export class MetaTable {
  #get: StatementSync;
  #set: StatementSync;
  #delete: StatementSync;

  /** Prepares the statements on `db`. */
  constructor(db: DatabaseSync) {
    this.#get = db.prepare("SELECT value FROM meta WHERE key = ?");
    this.#set = db.prepare(
      "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
    );
    this.#delete = db.prepare("DELETE FROM meta WHERE key = ?");
  }

  /** The value of `key`, undefined without one. */
  get(key: string): unknown {
    return this.#get.get(key)?.value;
  }

  /** Sets `key`. */
  set(key: string, value: number | string | Uint8Array): void {
    this.#set.run(key, value);
  }

  /** Removes `key`. */
  delete(key: string): void {
    this.#delete.run(key);
  }
}

/** Row counts the store keeps in memory. */
export interface Counts {
  /** Workgroup rows. */
  entries: number;
  /** Workgroup rows with a valid name. */
  valid: number;
  /** Outbox rows. */
  outbox: number;
}

/**
 * The committed row counts, read once (count(*) reads every page of the
 * table: about 75 ms at 100,000 workgroups, and the end of a refresh, the
 * status line and the guard asked four times), then kept up to date by the
 * writes; {@linkcode RowCounts.delta} is what the open batch changes.
 */
export class RowCounts {
  #committed: Counts | undefined;
  #read: () => Counts;
  /** What the open batch changes. */
  delta: Counts = { entries: 0, valid: 0, outbox: 0 };

  /** `read` counts the tables (inside a batch: with its staged rows). */
  constructor(read: () => Counts) {
    this.#read = read;
  }

  /** A count, committed plus staged. */
  get(which: keyof Counts): number {
    if (this.#committed === undefined) {
      const now = this.#read();
      this.#committed = {
        entries: now.entries - this.delta.entries,
        valid: now.valid - this.delta.valid,
        outbox: now.outbox - this.delta.outbox,
      };
    }
    return this.#committed[which] + this.delta[which];
  }

  /** The batch committed: its changes count. */
  commit(): void {
    const committed = this.#committed;
    if (committed !== undefined) {
      committed.entries += this.delta.entries;
      committed.valid += this.delta.valid;
      committed.outbox += this.delta.outbox;
    }
    this.discard();
  }

  /** The batch was discarded. */
  discard(): void {
    this.delta = { entries: 0, valid: 0, outbox: 0 };
  }
}
