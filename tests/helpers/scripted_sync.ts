/**
 * Scripted sync searches for the bad-input tests: the base DN, a workgroup
 * entry with its Sync State Control, and a script that answers the bind and
 * the search with given responses.
 *
 * @module
 */

import { type ScriptedPeer } from "./scripted_ldap_server.ts";
import { searchEntry, syncState, uuidBytes } from "./ldap_ber.ts";

/** The base DN of the scripted searches. */
export const BASE = "ou=workgroups,dc=example,dc=edu";

/** Workgroup `n` as a search entry of search `messageId`, with its Sync State Control and `cookie`. */
export function group(
  messageId: number,
  n: number,
  cookie?: string,
): Uint8Array {
  return searchEntry(
    messageId,
    `cn=g${n},${BASE}`,
    { cn: [`g${n}`], member: [`uid=u${n},ou=people,dc=example,dc=edu`] },
    [syncState(1, uuidBytes(n), cookie)],
  );
}

/** A script that sends `responses(searchId)` after bind and search, then serves until closed. */
export function respond(responses: (searchId: number) => Uint8Array[]) {
  return async (peer: ScriptedPeer) => {
    const search = await peer.acceptBindAndSearch();
    await peer.send(...responses(search.messageId));
    await peer.serveUntilClosed(search.messageId);
  };
}
