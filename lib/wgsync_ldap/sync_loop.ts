/**
 * The loop both sync searches (people, workgroups) run: each message of the
 * sync client goes to the search's applier; a new search (first connect and
 * every reconnect) begins a new applier search; a refresh that started
 * without a cookie ends as a present phase ({@linkcode asFullTransferEnd}).
 *
 * @module
 */

import type { SyncClient, SyncRefreshEndMessage } from "../ldap/mod.ts";
import type { SyncMessage } from "../ldap/sync_message.ts";

/** The applier side of a search, as the loop drives it. */
export interface LoopApplier<R> {
  readonly refreshing: boolean;
  beginSearch(): void;
  apply(message: SyncMessage): R;
  endSearch(): void;
}

/** Options of {@linkcode runSyncLoop}. */
export interface SyncLoopOptions<R> {
  client: SyncClient;
  applier: LoopApplier<R>;
  /** Awaited before each message: gives timers and signal handlers a turn now and then. */
  breathe(): Promise<void>;
  /** A new search began (its refresh follows). */
  onSearch?(): void;
  /** The refresh of the current search ends with `message` (after the full-transfer rewrite). */
  onRefreshEnd?(message: SyncRefreshEndMessage): void;
  /** A message was applied; return true to leave the loop (the search is cancelled). */
  onResult(result: R): boolean | void | Promise<boolean | void>;
}

/** Runs a search's messages into its applier until the client ends or `onResult` says stop. */
export async function runSyncLoop<R>(
  options: SyncLoopOptions<R>,
): Promise<void> {
  const { client, applier } = options;
  let begun = false;
  let fullTransfer = false;
  try {
    for await (let message of client.sync()) {
      await options.breathe();
      if (message.kind === "start") {
        if (begun) applier.endSearch();
        applier.beginSearch();
        begun = true;
        fullTransfer = message.resumeCookie === undefined;
        options.onSearch?.();
        continue;
      }
      if (message.kind === "refreshEnd" && applier.refreshing) {
        if (fullTransfer) message = asFullTransferEnd(message);
        fullTransfer = false;
        options.onRefreshEnd?.(message);
      }
      if (await options.onResult(applier.apply(message))) return;
    }
  } finally {
    if (begun) applier.endSearch();
    await client.close();
  }
}

/**
 * The end of a refresh that started without a cookie (the first start, after
 * refreshRequired, or after a refresh that broke off) as a present phase: the
 * server sent the whole content, so every stored workgroup (or person) it did
 * not send is gone. slapd ends such a refresh with refreshDelete and no
 * deletions, which would otherwise keep an entry deleted meanwhile (e.g.
 * while the search base was renamed away) in the store: a workgroup
 * snapshotted as if it existed, a person's uid still resolved. Workgroup
 * deletions found this way still go through the mass-deletion guard.
 */
export function asFullTransferEnd(
  message: SyncRefreshEndMessage,
): SyncRefreshEndMessage {
  if (message.phase === "present" && !message.refreshDeletes) return message;
  return { ...message, phase: "present", refreshDeletes: false };
}
