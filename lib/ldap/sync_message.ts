/**
 * Typed messages produced by the RFC 4533 sync client.
 *
 * Every message carries `cookie`: the sync cookie that becomes valid once the
 * caller has durably processed this message (undefined when the message does
 * not advance the cookie, for example entries inside the refresh phase).
 * Cookies are opaque bytes and must be stored whole.
 *
 * @module
 */

/** The state from a Sync State Control (RFC 4533 section 2.3). */
export type SyncState = "present" | "add" | "modify" | "delete";

/** An entry with its Sync State Control. */
export interface SyncEntryMessage {
  kind: "entry";
  state: SyncState;
  /** entryUUID in the canonical 8-4-4-4-12 lower-case hex form. */
  entryUUID: string;
  dn: string;
  /** Attribute values, attribute names lower-cased; empty for delete and present. */
  attributes: Record<string, string[]>;
  cookie?: Uint8Array;
}

/** A syncIdSet: a batch of entryUUIDs that are deleted or (refreshDeletes=false) present. */
export interface SyncIdSetMessage {
  kind: "idSet";
  entryUUIDs: string[];
  refreshDeletes: boolean;
  cookie?: Uint8Array;
}

/**
 * End of a refresh phase: a refreshDelete/refreshPresent SyncInfo, or the Sync
 * Done Control of a refreshOnly search. `phase` tells which phase ended. When
 * `phase` is "present", every entry not reported present or added during this
 * refresh is gone (unless `refreshDeletes` is true).
 */
export interface SyncRefreshEndMessage {
  kind: "refreshEnd";
  phase: "present" | "delete";
  /** True when the server finished the refresh (refreshDone). */
  refreshDone: boolean;
  refreshDeletes: boolean;
  cookie?: Uint8Array;
}

/** A SyncInfo newcookie: nothing changed but the cookie. */
export interface SyncNewCookieMessage {
  kind: "newCookie";
  cookie: Uint8Array;
}

/** The server answered e-syncRefreshRequired (4096): the caller must rebuild from scratch. */
export interface SyncRefreshRequiredMessage {
  kind: "refreshRequired";
  cookie?: undefined;
}

/**
 * The client started a sync search: sent before the first message of every
 * search, the first one and each after a reconnect or a refreshRequired.
 * Refresh-phase state gathered since the previous start (the entries seen
 * present, for the end of a present phase) must be discarded: the new search
 * reports everything again from `resumeCookie`, and messages after that
 * cookie may be delivered a second time.
 */
export interface SyncStartMessage {
  kind: "start";
  /** Why the search started. */
  reason: "initial" | "reconnect" | "refreshRequired";
  /** The cookie the search resumes from; undefined means a full refresh. */
  resumeCookie?: Uint8Array;
  cookie?: undefined;
}

/** One message of the sync stream. */
export type SyncMessage =
  | SyncStartMessage
  | SyncEntryMessage
  | SyncIdSetMessage
  | SyncRefreshEndMessage
  | SyncNewCookieMessage
  | SyncRefreshRequiredMessage;
