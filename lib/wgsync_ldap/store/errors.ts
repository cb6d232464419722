/**
 * The store's errors, and what SQLite's error codes mean for the consumer:
 * a store that is corrupt (rebuilt), or one that is only unavailable for now
 * — locked by another process, unreadable, the disk full — which is an
 * error to report and retry, never a reason to rebuild.
 *
 * @module
 */

/** Raised when the store cannot be opened, created or written. */
export class StoreError extends Error {
  /** Constructs a StoreError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreError";
  }
}

/**
 * Raised when the store exists but cannot be used now: locked by another
 * process, unreadable, on a full disk. Nothing was moved or rebuilt; retry.
 */
export class StoreUnavailableError extends StoreError {
  /** Constructs a StoreUnavailableError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}

/** SQLite primary result codes of a file that is fine but cannot be used now. */
const TRANSIENT = new Map<number, string>([
  [3, "access denied"], // SQLITE_PERM
  [5, "locked by another process"], // SQLITE_BUSY
  [6, "locked by another process"], // SQLITE_LOCKED
  [8, "read-only"], // SQLITE_READONLY
  [10, "I/O error"], // SQLITE_IOERR
  [13, "no space left on device"], // SQLITE_FULL
  [14, "cannot be opened"], // SQLITE_CANTOPEN
  [23, "access denied"], // SQLITE_AUTH
]);
/** SQLITE_CORRUPT, SQLITE_NOTADB. */
const CORRUPT = new Set([11, 26]);

/**
 * SQLite's own texts of those codes (`sqlite3_errstr`): `node:sqlite` gives
 * some errors (a failed `exec`) only as text, without `errcode`.
 */
const TEXTS = new Map<string, number>([
  ["access permission denied", 3],
  ["database is locked", 5],
  ["database table is locked", 6],
  ["attempt to write a readonly database", 8],
  ["disk I/O error", 10],
  ["database disk image is malformed", 11],
  ["database or disk is full", 13],
  ["unable to open database file", 14],
  ["authorization denied", 23],
  ["file is not a database", 26],
]);

/** The SQLite error of a `node:sqlite` error chain, if any. */
function sqliteError(
  error: unknown,
): { code: number; message: string } | undefined {
  for (let e = error; e instanceof Error; e = e.cause) {
    const code = (e as { errcode?: unknown }).errcode;
    if (typeof code === "number") {
      return { code: code & 0xff, message: e.message };
    }
    if ((e as { code?: unknown }).code === "ERR_SQLITE_ERROR") {
      const text = TEXTS.get(e.message);
      if (text !== undefined) return { code: text, message: e.message };
    }
  }
  return undefined;
}

/** True when SQLite found the file corrupt or not a database at all. */
export function isCorrupt(error: unknown): boolean {
  const code = sqliteError(error)?.code;
  return code !== undefined && CORRUPT.has(code);
}

/**
 * What keeps the store from being used, in words for logs and `STATUS=`,
 * when it is a condition that may pass (retry): "no space left on device",
 * "locked by another process", an I/O or permission problem. Undefined for
 * anything else (a programming error, corruption).
 */
export function transientProblem(error: unknown): string | undefined {
  for (let e = error; e instanceof Error; e = e.cause) {
    if ((e as { code?: unknown }).code === "ENOSPC") {
      return "no space left on device";
    }
  }
  const sqlite = sqliteError(error);
  if (sqlite === undefined) return undefined;
  const what = TRANSIENT.get(sqlite.code);
  return what === undefined ? undefined : `${what} (${sqlite.message})`;
}
