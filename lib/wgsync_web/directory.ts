/**
 * wgsync-ldap's store read by the site, read-only (`node:sqlite`,
 * `readOnly: true`): workgroup names and their current members.
 *
 * The site does not import wgsync-ldap's code (role folders never import each
 * other): these few queries read the tables as wgsync-ldap's store schema
 * (version 2) defines them — `workgroups(name, valid, members JSON array of
 * member values, …)` and `people(dn_key, uid, unique_id, …)`. The store is
 * opened per request, so a store wgsync-ldap rebuilt (moved aside and made
 * anew) is read at once; it is a local file, opening costs well under a
 * millisecond.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";

/** The store schema version these queries read. */
const SCHEMA_VERSION = 2;

/** A workgroup as listed. */
export interface WorkgroupSummary {
  name: string;
  members: number;
}

/** A workgroup member as the store holds it. */
export interface DirectoryMember {
  /** The member value (normally a DN). */
  dn: string;
  /** The account name, when the people search knows the person. */
  uid: string | null;
}

/** Raised when the store cannot be read. */
export class DirectoryError extends Error {
  /** Constructs a DirectoryError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DirectoryError";
  }
}

/** Read-only queries on wgsync-ldap's store. */
export class Directory {
  #path: string;

  /** Reads the store at `path`. */
  constructor(path: string) {
    this.#path = path;
  }

  /** Workgroups whose name contains `query` (case-insensitive), by name. */
  workgroups(query: string, limit = 100): WorkgroupSummary[] {
    return this.#read((db) =>
      db.prepare(
        `SELECT name, json_array_length(members) AS members FROM workgroups
         WHERE valid = 1 AND instr(lower(name), lower(?)) > 0
         ORDER BY name LIMIT ?`,
      ).all(query, limit).map((row) => ({
        name: String(row.name),
        members: Number(row.members),
      }))
    );
  }

  /** A workgroup's current members, or undefined when the store has no such workgroup. */
  members(workgroup: string): DirectoryMember[] | undefined {
    return this.#read((db) => {
      const row = db.prepare(
        "SELECT members FROM workgroups WHERE name = ? AND valid = 1",
      ).get(workgroup);
      if (row === undefined) return undefined;
      const values: string[] = JSON.parse(String(row.members));
      const uid = db.prepare(
        "SELECT uid FROM people WHERE dn_key = ? LIMIT 1",
      );
      return values.map((dn) => ({
        dn,
        // Keys are the lower-cased DN for DNs without spaces around their
        // separators (wgsync-ldap's dnKey); others show without a uid.
        uid: (uid.get(dn.toLowerCase())?.uid as string | null | undefined) ??
          null,
      }));
    });
  }

  #read<T>(query: (db: DatabaseSync) => T): T {
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(this.#path, { readOnly: true });
    } catch (error) {
      throw new DirectoryError(
        `Cannot open wgsync-ldap's store read-only: path is "${this.#path}"`,
        { cause: error },
      );
    }
    try {
      const version = db.prepare(
        "SELECT value FROM meta WHERE key = 'schema_version'",
      ).get()?.value;
      if (version !== SCHEMA_VERSION) {
        throw new DirectoryError(
          `Cannot read wgsync-ldap's store as its schema version is ${version}, expected ${SCHEMA_VERSION}: path is "${this.#path}"`,
        );
      }
      return query(db);
    } catch (error) {
      if (error instanceof DirectoryError) throw error;
      throw new DirectoryError(
        `Cannot read wgsync-ldap's store: path is "${this.#path}"`,
        { cause: error },
      );
    } finally {
      db.close();
    }
  }
}
