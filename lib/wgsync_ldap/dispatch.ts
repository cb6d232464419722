/**
 * How an applier's sync messages are routed: during a refresh, entries and
 * ID sets are staged in the {@linkcode RefreshState} (deletions wait for the
 * end of the refresh); outside it, each change is applied and committed with
 * its cookie. Shared by the workgroup and the people appliers.
 *
 * @module
 */
import type { SyncEntryMessage, SyncMessage } from "../ldap/sync_message.ts";
import type { RefreshState } from "./refresh.ts";

/** What one applier does with the parts of its search's messages. */
export interface SyncHandlers<R> {
  /** Writes an added or modified entry; `inRefresh` during the refresh. */
  upsert(message: SyncEntryMessage, inRefresh: boolean): void;
  /** Deletes a stored entry now (outside a refresh); `cookie` is the change's. */
  delete(entryUUID: string, cookie: Uint8Array | undefined): void;
  /** The entryUUIDs the store holds, for the end of a present phase. */
  storedUUIDs(): Iterable<string>;
  /** The result after a refresh message was staged (may commit a batch). */
  staged(): R;
  /** Commits a change outside a refresh, with its cookie; the result. */
  commit(cookie: Uint8Array | undefined): R;
  /** Applies the completed refresh; the result. */
  finishRefresh(): R;
  /** The provider requires a full reload; the result. */
  refreshRequired(): R;
}

/** Routes one sync message to `handlers` through the search's refresh state. */
export function dispatchSyncMessage<R>(
  message: SyncMessage,
  refresh: RefreshState,
  handlers: SyncHandlers<R>,
): R {
  const refreshing = refresh.refreshing;
  switch (message.kind) {
    case "entry":
      if (refreshing) {
        refresh.seeCookie(message.cookie);
        if (message.state === "delete") {
          refresh.delete(message.entryUUID);
        } else {
          refresh.present(message.entryUUID);
          if (message.state !== "present") handlers.upsert(message, true);
        }
        return handlers.staged();
      }
      if (message.state === "delete") {
        handlers.delete(message.entryUUID, message.cookie);
      } else if (message.state !== "present") {
        handlers.upsert(message, false);
      }
      return handlers.commit(message.cookie);
    case "idSet":
      if (refreshing) {
        refresh.seeCookie(message.cookie);
        for (const uuid of message.entryUUIDs) {
          if (message.refreshDeletes) refresh.delete(uuid);
          else refresh.present(uuid);
        }
        return handlers.staged();
      }
      if (message.refreshDeletes) {
        for (const uuid of message.entryUUIDs) {
          handlers.delete(uuid, message.cookie);
        }
      }
      return handlers.commit(message.cookie);
    case "newCookie":
      if (refreshing) {
        refresh.seeCookie(message.cookie);
        return handlers.staged();
      }
      return handlers.commit(message.cookie);
    case "refreshEnd":
      // A refresh-end outside a refresh carries at most a cookie.
      if (!refreshing) return handlers.commit(message.cookie);
      refresh.seeCookie(message.cookie);
      if (message.phase === "present" && !message.refreshDeletes) {
        refresh.endPresentPhase(handlers.storedUUIDs());
      }
      if (!message.refreshDone) return handlers.staged();
      return handlers.finishRefresh();
    case "refreshRequired":
      return handlers.refreshRequired();
    default:
      throw new TypeError(
        `Cannot apply the message as its kind is unknown: kind is ${
          JSON.stringify((message as { kind: unknown }).kind)
        }`,
      );
  }
}
