/**
 * A refreshOnly sync of the local stack's workgroups with the project's sync
 * client, counting what it saw: the tests' proof that a connection and bind
 * carry a whole refresh.
 *
 * @module
 */

import { type BindOptions, SyncClient } from "../../lib/ldap/mod.ts";
import type { StackInfo } from "./stack.ts";

/** Runs a refreshOnly sync of the workgroups; returns the entries and members seen. */
export async function refreshWorkgroups(
  stack: StackInfo,
  options: { url: string; bind: BindOptions; startTls?: boolean },
): Promise<{ entries: number; members: number }> {
  const client = new SyncClient({
    ...options,
    caFile: options.startTls ? stack.ldap.caFile : undefined,
    baseDN: stack.ldap.workgroupBase,
    scope: "one",
    attributes: ["cn", "member"],
    mode: "refreshOnly",
    reconnect: { maxAttempts: 1 },
  });
  let entries = 0;
  let members = 0;
  for await (const message of client.sync()) {
    if (message.kind !== "entry") continue;
    entries++;
    members += message.attributes.member.length;
  }
  await client.close();
  return { entries, members };
}
