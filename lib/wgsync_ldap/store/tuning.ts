/**
 * How the store's SQLite is tuned: its durability settings (WAL, NORMAL
 * synchronous) at open, and bulk mode for a refresh — automatic WAL
 * checkpoints suspended, a bigger page cache, and the held-members index
 * dropped while an empty store fills up and built at the end.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { HELD_INDEX } from "./schema.ts";

/** SQLite page cache outside bulk mode, in KiB (SQLite's default). */
const CACHE_KIB = 2000;
/** SQLite page cache in bulk mode (a refresh), in KiB. */
const BULK_CACHE_KIB = 16384;

/** Sets the journal mode and synchronous level of an open store's database. */
export function setDurability(db: DatabaseSync): void {
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
}

/** Bulk mode (nestable) and the held-members index of one open database. */
export class BulkMode {
  #db: DatabaseSync;
  #depth = 0;
  #heldIndexDropped = false;

  /** Starts outside bulk mode. */
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** True while the held-members index is dropped for a bulk fill. */
  get heldIndexDropped(): boolean {
    return this.#heldIndexDropped;
  }

  /**
   * Enters bulk mode (nestable). `empty` is asked on the outermost call: true
   * when the store has no rows and no open batch.
   */
  begin(empty: () => boolean): void {
    if (this.#depth++ === 0) {
      this.#db.exec("PRAGMA wal_autocheckpoint = 0");
      // A refresh inserts rows keyed by entryUUID: with SQLite's default
      // 2 MiB page cache the key index of 100,000 workgroups does not fit
      // and inserts in random key order re-read its pages (bare SQLite,
      // 100,000 rows in random order: 1.1 s with 2 MiB, 0.7 s with 16 MiB).
      // Memory only; durability is unchanged.
      this.#db.exec(`PRAGMA cache_size = -${BULK_CACHE_KIB}`);
      if (empty()) {
        // An empty store fills up: build the held-members index at the end.
        this.#db.exec("DROP INDEX IF EXISTS outbox_members_of");
        this.#heldIndexDropped = true;
      }
    }
  }

  /** Leaves bulk mode; the outermost call restores checkpoints and the cache. */
  end(): void {
    if (this.#depth === 0) return;
    if (--this.#depth === 0) {
      if (this.#heldIndexDropped) {
        this.#heldIndexDropped = false;
        this.ensureHeldIndex();
      }
      this.#db.exec("PRAGMA wal_autocheckpoint = 1000");
      this.#db.exec(`PRAGMA cache_size = -${CACHE_KIB}`);
    }
  }

  /** Creates the held-members index when it is missing (joins an open batch). */
  ensureHeldIndex(): void {
    const exists = this.#db.prepare(
      "SELECT 1 AS n FROM sqlite_master WHERE type = 'index' AND name = 'outbox_members_of'",
    ).get();
    if (exists === undefined) this.#db.exec(HELD_INDEX);
  }
}
