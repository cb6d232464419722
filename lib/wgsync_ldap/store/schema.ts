/**
 * The store's SQLite schema and its rows: the table definitions, the schema
 * version, the row types and the typed mappers from SQLite result rows.
 *
 * @module
 */

import type { SQLOutputValue } from "node:sqlite";

/**
 * The schema version this code writes and reads. Version 2 added outbox rows
 * whose member list is read from the workgroup row (`members_of`).
 */
export const SCHEMA_VERSION = 2;

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

/** A result row of `node:sqlite`. */
export type SqlRow = Record<string, SQLOutputValue>;

/**
 * Finds the outbox rows holding a workgroup's members. Dropped while a
 * refresh fills an empty store (built in one pass at its end instead of by
 * one random-order insert per event) and made again when a store is opened
 * without it (a crash in between).
 */
export const HELD_INDEX =
  "CREATE INDEX outbox_members_of ON outbox (members_of) WHERE members_of IS NOT NULL";

/** The tables of a new store. */
export const SCHEMA = `
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

/** The columns {@linkcode toWorkgroup} reads. */
export const WORKGROUP_COLUMNS =
  "entry_uuid, dn, name, valid, members, csn, seq";

/** Maps a `workgroups` row (all of {@linkcode WORKGROUP_COLUMNS}). */
export function toWorkgroup(row: SqlRow): WorkgroupRow {
  return {
    entryUUID: row.entry_uuid as string,
    dn: row.dn as string,
    name: row.name as string,
    valid: row.valid === 1,
    members: row.members as string,
    csn: row.csn as string,
    seq: Number(row.seq),
  };
}

/** The columns {@linkcode toPerson} reads. */
export const PERSON_COLUMNS = "entry_uuid, dn_key, uid, unique_id";

/** Maps a `people` row (all of {@linkcode PERSON_COLUMNS}). */
export function toPerson(row: SqlRow): PersonRow {
  return {
    entryUUID: row.entry_uuid as string,
    dnKey: row.dn_key as string,
    uid: row.uid as string | null,
    uniqueId: row.unique_id as string | null,
  };
}

/** An outbox row as stored: `members_of` names the workgroup holding its member list. */
export interface StoredOutboxRow extends OutboxRow {
  membersOf: string | null;
}

/** The columns {@linkcode toOutbox} reads. */
export const OUTBOX_COLUMNS = "position, id, workgroup, body, members_of";

/** Maps an `outbox` row (all of {@linkcode OUTBOX_COLUMNS}). */
export function toOutbox(row: SqlRow): StoredOutboxRow {
  return {
    position: Number(row.position),
    id: row.id as string,
    workgroup: row.workgroup as string,
    body: row.body as string,
    membersOf: row.members_of as string | null,
  };
}

/** The number in a `SELECT count(*) AS n` (or similar) row, 0 without one. */
export function toCount(row: SqlRow | undefined): number {
  return Number(row?.n ?? 0);
}
