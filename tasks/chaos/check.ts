/**
 * The chaos run's checker, pure: rebuilds each workgroup's membership from
 * what the demo remctl backend received and compares it with the
 * directory's final state.
 *
 * The rebuild is what a downstream system does with at-least-once delivery:
 * events are de-duplicated by `id` (first copy wins, whichever consumer sent
 * it), applied per workgroup in the order they were executed, `created` and
 * `snapshot` replace the membership, `deleted` removes the workgroup,
 * `renamed` moves it. The check never relies on a broker's de-duplication:
 * AWS's SNS FIFO drops a repeated dedup id for 5 minutes and moto keeps no
 * SNS window at all (its SQS queue even accepts an id again once the first
 * copy was deleted), so the downstream de-duplication by id is what makes the
 * result exact under either.
 *
 * This rebuild applies events in arrival order, which is exact only when
 * every workgroup's events arrive in csn order: one consumer pair and a
 * broker that keeps each FIFO group's order (the group is the stem, so a
 * rename and the old name's pending changes, or a re-used name's events,
 * arrive in the order they happened). It also records where that order
 * broke: an event applied after one with a greater csn on the same name (a
 * snapshot exempt, see checkOrder). The chaos verdict is the design's
 * downstream instead (`downstream.ts`: ordered by csn, so exact with two
 * pairs too); this one's figures are printed beside it.
 *
 * @module
 */

/** One event as the backend received it (the fields the template passes). */
export interface DeliveredEvent {
  id: string;
  type: string;
  workgroup: string;
  /** `member.dn` of member events. */
  member?: string;
  /** Member DNs of `workgroup.created` / `workgroup.snapshot`. */
  members?: string[];
  /** The old name of `workgroup.renamed`. */
  previous?: string;
  /** The change's entryCSN, when the template passes `{csn}`. */
  csn?: string;
  /** Whether the backend's command exited 0 (a failed call is retried). */
  succeeded: boolean;
}

/** A line of the demo backend's calls file (`remctl-calls.jsonl`). */
export interface DemoCall {
  argv: string[];
  stdin?: string;
  exitCode?: number;
}

/**
 * Reads a call as an event. `fields` names, for argv[1..], the placeholder
 * each argument was filled from (argv[0] is the subcommand), e.g.
 * `["type", "workgroup", ..., "id"]`; `"members"` names standard input.
 */
export function eventOfCall(
  call: DemoCall,
  fields: readonly string[],
): DeliveredEvent {
  const value = (name: string): string | undefined => {
    if (name === "members") return call.stdin;
    const index = fields.indexOf(name);
    return index < 0 ? undefined : call.argv[index + 1];
  };
  const id = value("id");
  const type = value("type");
  const workgroup = value("workgroup");
  if (!id || !type || !workgroup) {
    throw new TypeError(
      `Cannot read the call ${
        JSON.stringify(call.argv)
      } as an event: expected id, type and workgroup in the arguments ${
        JSON.stringify(fields)
      }`,
    );
  }
  const event: DeliveredEvent = {
    id,
    type,
    workgroup,
    succeeded: (call.exitCode ?? 0) === 0,
  };
  const member = value("member.dn");
  if (member) event.member = member;
  const previous = value("previous");
  if (previous) event.previous = previous;
  const csn = value("csn");
  if (csn) event.csn = csn;
  const members = value("members");
  if (type === "workgroup.created" || type === "workgroup.snapshot") {
    event.members = (JSON.parse(members || "[]") as { dn: string }[]).map((
      m,
    ) => m.dn);
  }
  return event;
}

/** Parses the calls file's text (JSON lines) into events. */
export function parseCalls(
  text: string,
  fields: readonly string[],
): DeliveredEvent[] {
  return text.split("\n").filter((line) => line.trim() !== "").map((line) =>
    eventOfCall(JSON.parse(line) as DemoCall, fields)
  );
}

/** The matching key of a member DN: lower-cased, blanks around `,` and `=` removed. */
export function memberKey(dn: string): string {
  return dn.replace(/\s*([,=+])\s*/g, "$1").toLowerCase();
}

/**
 * An event applied after one with a greater `csn` on the same workgroup
 * name — e.g. a member change of the old name executed after the rename, or
 * a lagging pair's coalesced change.
 */
export interface OrderViolation {
  workgroup: string;
  /** The event applied first and its csn. */
  before: { id: string; type: string; csn: string };
  /** The later event whose csn is smaller. */
  after: { id: string; type: string; csn: string };
}

/** What the rebuild produced. */
export interface Rebuilt {
  /** Workgroup name → member keys. */
  memberships: Map<string, Set<string>>;
  /** Successful executions, duplicates included. */
  delivered: number;
  /** Distinct event ids applied. */
  applied: number;
  /** Executions of an id already applied. */
  duplicates: number;
  /** Executions that failed (the message was received again later). */
  failed: number;
  orderViolations: OrderViolation[];
  /** Events skipped as stale (older than what they would overwrite; `rebuildByCsn` only). */
  stale: number;
}

/** Applies `events` in arrival order, de-duplicated by id. */
export function rebuild(events: Iterable<DeliveredEvent>): Rebuilt {
  const memberships = new Map<string, Set<string>>();
  const seen = new Set<string>();
  /** The csn of the last event applied to each name (a rename counts for both names). */
  const lastCsn = new Map<string, { id: string; type: string; csn: string }>();
  const result: Rebuilt = {
    memberships,
    delivered: 0,
    applied: 0,
    duplicates: 0,
    failed: 0,
    orderViolations: [],
    stale: 0,
  };
  for (const event of events) {
    if (!event.succeeded) {
      result.failed++;
      continue;
    }
    result.delivered++;
    if (seen.has(event.id)) {
      result.duplicates++;
      continue;
    }
    seen.add(event.id);
    const name = event.workgroup;
    checkOrder(event, lastCsn, result.orderViolations);
    result.applied++;
    switch (event.type) {
      case "workgroup.created":
      case "workgroup.snapshot":
        memberships.set(name, new Set((event.members ?? []).map(memberKey)));
        break;
      case "workgroup.deleted":
        memberships.delete(name);
        break;
      case "workgroup.renamed": {
        const previous = event.previous ?? "";
        const moved = memberships.get(previous) ?? new Set<string>();
        memberships.delete(previous);
        memberships.set(name, moved);
        break;
      }
      case "member.added":
      case "member.removed": {
        let members = memberships.get(name);
        if (members === undefined) {
          members = new Set();
          memberships.set(name, members);
        }
        const key = memberKey(event.member ?? "");
        if (event.type === "member.added") members.add(key);
        else members.delete(key);
        break;
      }
      default:
        throw new TypeError(
          `Cannot apply event ${event.id}: type "${event.type}" is not one of schema v1's`,
        );
    }
  }
  return result;
}

/**
 * Records an order violation when `event` has a smaller csn than the last
 * event applied to its name (or, for a rename, to its previous name). A
 * snapshot is exempt: it re-states the membership as of the entry's last
 * change, which may precede the refresh deletion it follows.
 */
function checkOrder(
  event: DeliveredEvent,
  lastCsn: Map<string, { id: string; type: string; csn: string }>,
  violations: OrderViolation[],
): void {
  if (event.csn === undefined) return;
  const current = { id: event.id, type: event.type, csn: event.csn };
  const names = event.type === "workgroup.renamed" && event.previous
    ? [event.workgroup, event.previous]
    : [event.workgroup];
  for (const name of names) {
    const last = lastCsn.get(name);
    if (event.type === "workgroup.snapshot") {
      if (last === undefined || last.csn < event.csn) {
        lastCsn.set(name, current);
      }
      continue;
    }
    if (last !== undefined && event.csn < last.csn) {
      violations.push({ workgroup: name, before: last, after: current });
    } else {
      lastCsn.set(name, current);
    }
  }
}

/** One workgroup whose rebuilt membership differs from the directory's. */
export interface Mismatch {
  workgroup: string;
  /** In the directory, not downstream (or the whole workgroup is missing). */
  missing: string[];
  /** Downstream, not in the directory (or the workgroup should not exist). */
  unexpected: string[];
  /** The workgroup exists in the directory / downstream. */
  inDirectory: boolean;
  downstream: boolean;
}

/**
 * Compares the rebuilt memberships with the directory's (name → member
 * DNs), over the workgroups `include` selects on either side (e.g. the
 * stems the targets subscribe to). Returns the differences, sorted by name.
 */
export function compare(
  rebuilt: Map<string, Set<string>>,
  directory: Map<string, string[]>,
  include: (workgroup: string) => boolean = () => true,
): Mismatch[] {
  const names = new Set(
    [...rebuilt.keys(), ...directory.keys()].filter(include),
  );
  const mismatches: Mismatch[] = [];
  for (const name of [...names].sort()) {
    const expected = directory.get(name);
    const actual = rebuilt.get(name);
    const want = new Set((expected ?? []).map(memberKey));
    const have = actual ?? new Set<string>();
    const missing = [...want].filter((key) => !have.has(key)).sort();
    const unexpected = [...have].filter((key) => !want.has(key)).sort();
    if (
      missing.length > 0 || unexpected.length > 0 ||
      (expected === undefined) !== (actual === undefined)
    ) {
      mismatches.push({
        workgroup: name,
        missing,
        unexpected,
        inDirectory: expected !== undefined,
        downstream: actual !== undefined,
      });
    }
  }
  return mismatches;
}

/** One entry of `ldapsearch -LLL -o ldif-wrap=no` output: its DN and attribute values (names lower-cased). */
export interface LdifEntry {
  dn: string;
  attributes: Map<string, string[]>;
}

/** Reads `ldapsearch -LLL -o ldif-wrap=no` output (base64 values decoded). */
export function parseLdif(ldif: string): LdifEntry[] {
  const decoder = new TextDecoder();
  const entries: LdifEntry[] = [];
  for (const text of ldif.split(/\n\n+/)) {
    let dn: string | undefined;
    const attributes = new Map<string, string[]>();
    for (const line of text.split("\n")) {
      const match = /^([^:#][^:]*)(::?) ?(.*)$/.exec(line);
      if (match === null) continue;
      const [, attribute, separator, raw] = match;
      const value = separator === "::"
        ? decoder.decode(Uint8Array.from(atob(raw), (c) => c.charCodeAt(0)))
        : raw;
      const lower = attribute.toLowerCase();
      if (lower === "dn") dn = value;
      else attributes.set(lower, [...attributes.get(lower) ?? [], value]);
    }
    if (dn !== undefined) entries.push({ dn, attributes });
  }
  return entries;
}

/** Reads `ldapsearch -LLL -o ldif-wrap=no` output into workgroup name → member DNs. */
export function parseDirectory(
  ldif: string,
  nameAttribute = "cn",
  memberAttribute = "member",
): Map<string, string[]> {
  const directory = new Map<string, string[]>();
  for (const { attributes } of parseLdif(ldif)) {
    const name = attributes.get(nameAttribute)?.[0];
    if (name !== undefined) {
      directory.set(name, attributes.get(memberAttribute) ?? []);
    }
  }
  return directory;
}
