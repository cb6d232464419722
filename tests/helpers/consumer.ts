/**
 * Helpers for the consumer tests: sync messages built in the test (the sync
 * client produces the same typed messages from a real slapd; the end-to-end
 * run against slapd comes with roles/ldap.ts), temporary stores, log capture
 * and a reconstruction of memberships from delivered events.
 *
 * @module
 */

import { configureSync, type LogRecord, resetSync } from "@logtape/logtape";
import type {
  SyncEntryMessage,
  SyncMessage,
} from "../../lib/ldap/sync_message.ts";
import type { WorkgroupEvent } from "../../lib/events/mod.ts";
import {
  openStore,
  type Store,
  type StoreOptions,
} from "../../lib/wgsync_ldap/store/mod.ts";

const encoder = new TextEncoder();

/** A canonical entryUUID for a number. */
export function uuid(n: number): string {
  const h = n.toString(16).padStart(32, "0");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${
    h.slice(16, 20)
  }-${h.slice(20)}`;
}

/** An OpenLDAP-style CSN for a number (sorts like the number). */
export function csn(n: number): string {
  return `20250101000000.${String(n).padStart(6, "0")}Z#000000#000#000000`;
}

/** A sync cookie carrying csn(n). */
export function cookie(n: number): Uint8Array {
  return encoder.encode(`rid=000,csn=${csn(n)}`);
}

/** A person DN. */
export function person(uid: string): string {
  return `uid=${uid},ou=people,dc=example,dc=org`;
}

/** A workgroup entry message. */
export function group(
  state: SyncEntryMessage["state"],
  n: number,
  name: string,
  members: string[],
  change: number,
  options: { cookie?: Uint8Array; attributes?: Record<string, string[]> } = {},
): SyncEntryMessage {
  const attributes = state === "present" || state === "delete" ? {} : {
    cn: [name],
    member: members,
    entrycsn: [csn(change)],
    ...options.attributes,
  };
  return {
    kind: "entry",
    state,
    entryUUID: uuid(n),
    dn: `cn=${name},ou=groups,dc=example,dc=org`,
    attributes,
    cookie: options.cookie,
  };
}

/** The end of a refresh. */
export function refreshEnd(
  phase: "present" | "delete",
  change: number | undefined,
  refreshDone = true,
): SyncMessage {
  return {
    kind: "refreshEnd",
    phase,
    refreshDone,
    refreshDeletes: phase === "delete",
    cookie: change === undefined ? undefined : cookie(change),
  };
}

/** Runs `fn` with a store in a fresh temporary directory, removed afterwards. */
export async function withStore(
  fn: (store: Store, dir: string) => Promise<void> | void,
  options: Partial<StoreOptions> = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-consumer-test-" });
  const { store } = openStore(`${dir}/store.sqlite`, {
    identity: { base: "ou=groups,dc=example,dc=org" },
    ...options,
  });
  try {
    await fn(store, dir);
  } finally {
    if (!store.closed) store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** All committed outbox events, in order. */
export function outbox(store: Store): WorkgroupEvent[] {
  return store.readOutbox(0, 1_000_000).map((row) => JSON.parse(row.body));
}

/** Captures log records of the "wgsync" category while `fn` runs. */
export async function captureLogs(
  fn: (records: LogRecord[]) => Promise<void> | void,
): Promise<void> {
  const records: LogRecord[] = [];
  configureSync({
    sinks: { memory: (record) => records.push(record) },
    loggers: [
      { category: ["wgsync"], sinks: ["memory"], lowestLevel: "debug" },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
    ],
    reset: true,
  });
  try {
    await fn(records);
  } finally {
    resetSync();
  }
}

/** Renders a log record's message with its values. */
export function text(record: LogRecord): string {
  return record.message.map((part) =>
    typeof part === "string" ? part : JSON.stringify(part)
  )
    .join("");
}

/**
 * Rebuilds memberships (workgroup name → member DNs) from delivered events as
 * a downstream system would: de-duplicated by id (first delivery counts), in
 * delivery order (per workgroup, the outbox order).
 */
export function reconstruct(
  events: WorkgroupEvent[],
): Map<string, Set<string>> {
  const unique = new Map<string, WorkgroupEvent>();
  for (const event of events) {
    if (!unique.has(event.id)) unique.set(event.id, event);
  }
  const ordered = [...unique.values()];
  const groups = new Map<string, Set<string>>();
  for (const event of ordered) {
    switch (event.type) {
      case "workgroup.created":
      case "workgroup.snapshot":
        groups.set(event.workgroup, new Set(event.members!.map((m) => m.dn)));
        break;
      case "workgroup.deleted":
        groups.delete(event.workgroup);
        break;
      case "workgroup.renamed":
        groups.set(event.workgroup, groups.get(event.previous!) ?? new Set());
        groups.delete(event.previous!);
        break;
      case "member.added":
        groups.get(event.workgroup)?.add(event.member!.dn);
        break;
      case "member.removed":
        groups.get(event.workgroup)?.delete(event.member!.dn);
        break;
    }
  }
  return groups;
}
