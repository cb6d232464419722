/**
 * Opening the store: create it when missing, use it when it passes the
 * checks, rebuild it when it fails `PRAGMA integrity_check`, has another
 * schema version or was built for another identity.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { optionChecks } from "../../options.ts";
import { StoreError } from "./errors.ts";
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
   * other schema version, other identity, unreadable): it was moved to
   * `<path>.old` and a fresh store was created that needs a full refresh and
   * then a `workgroup.snapshot` for every workgroup. The text says why.
   */
  rebuilt?: string;
}

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
    optionChecks("open the store").invalid(
      "pageSize",
      pageSize,
      "a power of two from 4096 to 65536",
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
