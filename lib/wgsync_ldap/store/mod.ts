/**
 * The consumer's local store (`node:sqlite`, WAL): the schema and its rows
 * (`schema.ts`), opening, checking and rebuilding (`open.ts`), the outbox with
 * member lists held by reference (`outbox.ts`), the open store with its
 * batches (`store.ts`) and its SQLite tuning, bulk mode included
 * (`tuning.ts`).
 *
 * @module
 */

export {
  isCorrupt,
  StoreError,
  StoreUnavailableError,
  transientProblem,
} from "./errors.ts";
export {
  identityFingerprint,
  type OpenedStore,
  openStore,
  type StoreOptions,
} from "./open.ts";
export {
  type OutboxRow,
  type PersonRow,
  SCHEMA_VERSION,
  type SyncStream,
  type WorkgroupRow,
} from "./schema.ts";
export { Store } from "./store.ts";
