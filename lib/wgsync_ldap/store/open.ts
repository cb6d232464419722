/**
 * Opening the store: create it when missing, use it when it passes the
 * checks, rebuild it when it fails `PRAGMA integrity_check`, has another
 * schema version or was built for another identity. A store that is only
 * locked (another process holds a write lock) or unreadable is none of
 * these: {@linkcode StoreUnavailableError}, and the caller retries. A store
 * moved aside keeps a name of its own (`store.sqlite.old-<time>`), so no
 * earlier one is ever overwritten. Store files are created 0600 (and made
 * 0600 when found wider): they hold memberships and employee numbers.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { optionChecks } from "../../options.ts";
import { isCorrupt, StoreError, StoreUnavailableError } from "./errors.ts";
import { SCHEMA, SCHEMA_VERSION } from "./schema.ts";
import { Store } from "./store.ts";

/** Options of {@linkcode openStore}. */
export interface StoreOptions {
  /**
   * What the store is built for — at least the search base, filter and bind
   * identity of the sync search(es). A store built for another identity is
   * rebuilt. Compared by a SHA-256 fingerprint of its canonical JSON.
   */
  identity: Record<string, unknown>;
  /**
   * Earlier forms of the same identity (an older version of this program
   * described it differently): a store built for one of them is used, and
   * its fingerprint updated, instead of rebuilt.
   */
  formerIdentities?: Record<string, unknown>[];
  /**
   * SQLite page size of a newly created store, a power of two from 4096 to
   * 65536 (bulk refreshes gain from bigger pages, single-change commits from
   * smaller).
   *
   * @default {8192}
   */
  pageSize?: number;
}

/** The result of {@linkcode openStore}. */
export interface OpenedStore {
  store: Store;
  /**
   * Set when the existing file could not be used (failed integrity check,
   * other schema version, other identity): it was moved to
   * {@linkcode OpenedStore.movedTo} and a fresh store was created that needs
   * a full refresh and then a `workgroup.snapshot` for every workgroup. The
   * text says why.
   */
  rebuilt?: string;
  /** Where the unusable store was moved, with `rebuilt`. */
  movedTo?: string;
}

/**
 * Opens the store at `path`, creating it when missing and rebuilding it when
 * it fails `PRAGMA integrity_check`, has another schema version or was built
 * for another identity (see {@linkcode OpenedStore.rebuilt}); throws
 * {@linkcode StoreUnavailableError} when it is locked or cannot be read.
 */
export function openStore(path: string, options: StoreOptions): OpenedStore {
  const pageSize = options.pageSize ?? 8192;
  if (
    !Number.isInteger(pageSize) || pageSize < 4096 || pageSize > 65536 ||
    (pageSize & (pageSize - 1)) !== 0
  ) {
    optionChecks("open the store").invalid(
      "pageSize",
      pageSize,
      "a power of two from 4096 to 65536",
    );
  }
  const fingerprint = identityFingerprint(options.identity);
  const former = (options.formerIdentities ?? []).map(identityFingerprint);
  let exists = false;
  try {
    exists = Deno.statSync(path).isFile;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new StoreUnavailableError(
        `Cannot open the store as it cannot be read: path is "${path}"`,
        { cause: error },
      );
    }
  }
  let rebuilt: string | undefined;
  let movedTo: string | undefined;
  if (exists) {
    restrictModes(path);
    rebuilt = checkExisting(path, fingerprint, former);
    if (rebuilt === undefined) {
      return { store: new Store(new DatabaseSync(path), path) };
    }
    movedTo = moveAside(path);
  }
  let db: DatabaseSync;
  try {
    // SQLite gives the -wal and -shm files the main file's mode.
    Deno.openSync(path, { write: true, createNew: true, mode: 0o600 }).close();
    db = new DatabaseSync(path);
  } catch (error) {
    throw new StoreUnavailableError(
      `Cannot create the store: path is "${path}"`,
      { cause: error },
    );
  }
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
  return { store: new Store(db, path), rebuilt, movedTo };
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

/** The store files found: the database and its WAL and shared-memory files. */
const SIDE_FILES = ["", "-wal", "-shm"];

/** Makes existing store files 0600 (an older version created them 0644). */
function restrictModes(path: string): void {
  for (const suffix of SIDE_FILES) {
    try {
      const { mode } = Deno.statSync(path + suffix);
      if (mode !== null && (mode & 0o077) !== 0) {
        Deno.chmodSync(path + suffix, mode & 0o600);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw new StoreUnavailableError(
          `Cannot open the store as its mode cannot be set to 0600: path is "${path}${suffix}"`,
          { cause: error },
        );
      }
    }
  }
}

/**
 * Returns why the existing store must be rebuilt, or undefined when it can
 * be used (its fingerprint updated when it was built for a former form of
 * the identity). Throws {@linkcode StoreUnavailableError} when it cannot be
 * checked now (locked, unreadable): that is no reason to rebuild.
 */
function checkExisting(
  path: string,
  fingerprint: string,
  former: string[],
): string | undefined {
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
    const stored = get.get("identity")?.value;
    if (stored === fingerprint) return undefined;
    if (typeof stored === "string" && former.includes(stored)) {
      db.prepare("UPDATE meta SET value = ? WHERE key = 'identity'")
        .run(fingerprint);
      return undefined;
    }
    return "the store was built for another search base, filter or bind identity";
  } catch (error) {
    if (isCorrupt(error)) {
      return `the store is corrupt: ${
        error instanceof Error ? error.message : String(error)
      }`;
    }
    throw new StoreUnavailableError(
      `Cannot open the store as it cannot be read now (${
        error instanceof Error ? error.message : String(error)
      }); it was left as it is: path is "${path}"`,
      { cause: error },
    );
  } finally {
    try {
      db?.close();
    } catch {
      // A corrupt file may fail to close cleanly; it is moved aside anyway.
    }
  }
}

/**
 * Moves an unusable store (and its WAL) to `<path>.old-<UTC time>`, a name
 * no earlier store moved aside has; returns it.
 */
function moveAside(path: string): string {
  const stamp = new Date().toISOString().replace(/[-:.]/g, "");
  let to = `${path}.old-${stamp}`;
  for (let n = 2; exists(to) || exists(`${to}-wal`); n++) {
    to = `${path}.old-${stamp}-${n}`;
  }
  for (const suffix of ["", "-wal"]) {
    try {
      Deno.renameSync(path + suffix, to + suffix);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw new StoreError(
          `Cannot move the unusable store aside: path is "${path}${suffix}"`,
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
  return to;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
