/**
 * The outbox table: events not yet acknowledged, in position order.
 *
 * Events that carry a whole member list (`workgroup.created`,
 * `workgroup.snapshot`) can be appended with their members held by reference
 * ({@linkcode Outbox.appendHeld}): the row names the workgroup and the list
 * is built from the workgroup row and the people directory (see
 * `bindDirectory`) when the row is read. That keeps a first refresh from
 * writing every member list twice. Events stay immutable facts: before
 * anything the list depends on changes — the workgroup row's members (update
 * or delete) or any person — the affected rows are written out in full, in
 * the same transaction as the change ({@linkcode Outbox.writeOutHeld},
 * {@linkcode Outbox.writeOutAllHeld}). So a row reads the same before and
 * after any commit, crash or restart.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { Member, WorkgroupEvent } from "../../events/mod.ts";
import { boundDirectory, dnKey, rdnValue } from "../member.ts";
import { memberValues } from "../workgroup_entry.ts";
import { StoreError } from "./errors.ts";
import { OUTBOX_COLUMNS, type OutboxRow, toCount, toOutbox } from "./schema.ts";

/** Where a body held by reference takes its member list. */
const MEMBERS_SLOT = ',"members":null,';

/** Cannot happen: a row is written out before its workgroup is deleted. */
function missingWorkgroup(entryUUID: string): never {
  throw new StoreError(
    `Cannot read an outbox event as the workgroup holding its members is missing: entryUUID is "${entryUUID}"`,
  );
}

/** The outbox of one store; `owner` is the store the people directory is bound to. */
export class Outbox {
  #owner: object;
  #append: StatementSync;
  #read: StatementSync;
  #heldBy: StatementSync;
  #heldAny: StatementSync;
  #held: StatementSync;
  #writeOut: StatementSync;
  #delete: StatementSync;
  #depth: StatementSync;
  #max: StatementSync;
  #members: StatementSync;
  #personByKey: StatementSync;
  #personAny: StatementSync;

  /** Prepares the statements on `db`. */
  constructor(db: DatabaseSync, owner: object) {
    this.#owner = owner;
    this.#append = db.prepare(
      "INSERT INTO outbox (position, id, workgroup, body, members_of) VALUES (?, ?, ?, ?, ?)",
    );
    // A held row's member list comes with it (one statement per batch, not
    // one lookup per row).
    this.#read = db.prepare(
      `SELECT ${OUTBOX_COLUMNS}, workgroups.members AS held_members FROM outbox LEFT JOIN workgroups ON outbox.members_of IS NOT NULL AND workgroups.entry_uuid = outbox.members_of WHERE position > ? AND position <= ? ORDER BY position LIMIT ?`,
    );
    this.#heldBy = db.prepare(
      "SELECT position, body FROM outbox WHERE members_of = ?",
    );
    this.#heldAny = db.prepare(
      "SELECT 1 AS n FROM outbox WHERE members_of IS NOT NULL LIMIT 1",
    );
    this.#held = db.prepare(
      "SELECT position, body, members_of FROM outbox WHERE members_of IS NOT NULL",
    );
    this.#writeOut = db.prepare(
      "UPDATE outbox SET body = ?, members_of = NULL WHERE position = ?",
    );
    this.#delete = db.prepare(
      "DELETE FROM outbox WHERE position BETWEEN ? AND ?",
    );
    this.#depth = db.prepare("SELECT count(*) AS n FROM outbox");
    this.#max = db.prepare("SELECT max(position) AS n FROM outbox");
    this.#members = db.prepare(
      "SELECT members FROM workgroups WHERE entry_uuid = ?",
    );
    this.#personByKey = db.prepare(
      "SELECT uid, unique_id FROM people WHERE dn_key = ? LIMIT 1",
    );
    this.#personAny = db.prepare("SELECT 1 AS n FROM people LIMIT 1");
  }

  /** The highest position in the table, 0 when empty. */
  maxPosition(): number {
    return toCount(this.#max.get());
  }

  /** The number of rows. */
  depth(): number {
    return toCount(this.#depth.get());
  }

  /** Inserts an event with its body in full. */
  append(position: number, event: WorkgroupEvent): void {
    this.#append.run(
      position,
      event.id,
      event.workgroup,
      JSON.stringify(event),
      null,
    );
  }

  /** Inserts an event whose members are those of the workgroup row `entryUUID`. */
  appendHeld(
    position: number,
    event: Omit<WorkgroupEvent, "members">,
    entryUUID: string,
  ): void {
    const { v, id, type, workgroup, stem, csn, seq, observedAt } = event;
    // JSON.stringify of the event with `members: null`, in the key order of
    // an event with members (see WorkgroupEvent); the null is replaced by the
    // list when the row is read or written out. Written out here as a
    // template (0.3 instead of 0.8 µs an event; a first refresh writes one
    // per workgroup): the values not passed through JSON.stringify are a
    // number, a hex id, an event type and an ISO 8601 time, which need no
    // escaping.
    const body = `{"v":${v},"id":"${id}","type":"${type}","workgroup":${
      JSON.stringify(workgroup)
    },"stem":${JSON.stringify(stem)},"members":null,"csn":${
      JSON.stringify(csn)
    },"seq":${seq},"observedAt":"${observedAt}"}`;
    this.#append.run(position, id, workgroup, body, entryUUID);
  }

  /** Up to `limit` rows with `after < position <= upTo`, in order, member lists filled in. */
  read(after: number, upTo: number, limit: number): OutboxRow[] {
    const stored = this.#read.all(after, upTo, limit);
    let resolve: ((dn: string) => Member) | undefined;
    return stored.map((sql) => {
      const { membersOf, ...row } = toOutbox(sql);
      if (membersOf === null) return row;
      const members = sql.held_members;
      if (typeof members !== "string") missingWorkgroup(membersOf);
      resolve ??= this.#resolver();
      return { ...row, body: this.#fullBody(row.body, members, resolve) };
    });
  }

  /**
   * Deletes rows by position; returns how many there were. Consecutive
   * positions (acknowledgements mostly come in outbox order) go in one
   * range statement each.
   */
  delete(positions: Iterable<number>): number {
    const sorted = [...positions].sort((a, b) => a - b);
    let deleted = 0;
    for (let i = 0; i < sorted.length;) {
      let j = i;
      while (j + 1 < sorted.length && sorted[j + 1] <= sorted[j] + 1) j++;
      deleted += Number(this.#delete.run(sorted[i], sorted[j]).changes);
      i = j + 1;
    }
    return deleted;
  }

  /**
   * Writes out in full the rows holding the members of `entryUUID` before its
   * row changes (`members` is the new list; undefined: deleted).
   */
  writeOutHeld(entryUUID: string, members?: string): void {
    const rows = this.#heldBy.all(entryUUID);
    if (rows.length === 0) return;
    const stored = this.#storedMembers(entryUUID);
    if (stored === members) return; // The list the rows take is unchanged.
    for (const row of rows) {
      this.#writeOut.run(
        this.#fullBody(row.body as string, stored),
        row.position,
      );
    }
  }

  /** Writes out every held row before a person (and so a member's uid or id) changes. */
  writeOutAllHeld(): void {
    if (this.#heldAny.get() === undefined) return;
    const resolve = this.#resolver();
    for (const row of this.#held.all()) {
      this.#writeOut.run(
        this.#fullBody(
          row.body as string,
          this.#storedMembers(row.members_of as string),
          resolve,
        ),
        row.position,
      );
    }
  }

  /** The member values a held body takes: those of the workgroup row. */
  #storedMembers(entryUUID: string): string {
    const members = this.#members.get(entryUUID)?.members;
    if (typeof members !== "string") missingWorkgroup(entryUUID);
    return members;
  }

  /**
   * How held member lists are resolved: with the directory the people
   * applier keeps equal to the people table, else (no people applier in
   * this process yet) from the people table itself.
   */
  #resolver(): (dn: string) => Member {
    const directory = boundDirectory(this.#owner);
    if (directory !== undefined) return (dn) => directory.resolve(dn);
    if (this.#personAny.get() === undefined) {
      return (dn) => ({ dn, id: rdnValue(dn), uid: null });
    }
    const get = this.#personByKey;
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
    for (const dn of memberValues(JSON.parse(members))) {
      list += (list === "" ? "" : ",") + JSON.stringify(resolve(dn));
    }
    return `${body.slice(0, slot)},"members":[${list}],${
      body.slice(slot + MEMBERS_SLOT.length)
    }`;
  }
}
