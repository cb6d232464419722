/**
 * The downstream DESIGN.md asks for — "de-duplicates by `id` and orders by
 * `csn`" — as the chaos verdict: what a subscriber that follows the contract
 * ends with, whatever order the events arrived in.
 *
 * Per workgroup name it keeps each member's state with the csn that set it
 * (the latest csn wins), the csn of the last workgroup-wide change
 * (created, snapshot, deleted, renamed — a floor below which member events
 * are already contained) and the latest csn applied. An event older than
 * what it would overwrite is stale: skipped and counted. So a lagging
 * active-active pair's coalesced change (a new id, a csn older than the
 * other pair's later change of that member) changes nothing, while a lost
 * event still leaves its member wrong.
 *
 * - `member.added` / `member.removed`: stale below the name's floor or the
 *   member's own csn. A change of a name renamed since, older than the
 *   rename (a lagging pair's, delivered after it), is the renamed entry's:
 *   it goes to the new name.
 * - `workgroup.created`: stale below the floor; otherwise each listed member
 *   present and each other one absent, unless the member's csn is newer.
 * - `workgroup.snapshot`: always applied like `created`, and lowers the floor
 *   to its csn. A refresh's deletion carries the refresh cookie's csn, later
 *   than the entry's own, so the snapshot that follows a deletion of a
 *   re-used name (wgsync-ldap sends one then) can be older than it.
 * - `workgroup.deleted`: stale below the latest csn applied to the name
 *   (the name changed after it: a re-use or a lagging copy); otherwise the
 *   name is gone, its floor the deletion's csn.
 * - `workgroup.renamed`: skipped when the previous name was re-established
 *   after it. The previous name's state moves to the new name (members with
 *   their csns) unless the new name exists already (the move applied from
 *   another consumer's copy, or a lagging pair that first saw the entry under
 *   its new name created it) or went after the rename (deleted or renamed
 *   on: a late copy); the new name's floor stays (a rename lists no members,
 *   and a lagging copy's later csn must not hide the member changes between)
 *   and it takes nothing the previous name saw after it was gone. Either way
 *   the previous name is gone from the rename's csn on.
 *
 * Events carry no entryUUID, so two entries that held one name are told
 * apart only by csn; a lagging pair's stale snapshot taken before a later
 * deletion re-creates the workgroup (such a snapshot follows only a refresh
 * that deleted a re-used name or a rebuilt store).
 *
 * @module
 */

import { type DeliveredEvent, memberKey, type Rebuilt } from "./check.ts";

interface MemberState {
  present: boolean;
  csn: string;
}

interface NameState {
  exists: boolean;
  /** The csn of the last workgroup-wide change. */
  floor: string;
  /** The greatest csn applied to the name. */
  latest: string;
  members: Map<string, MemberState>;
  /** Where the name went by its rename, and that rename's csn. */
  renamedTo?: { name: string; csn: string };
}

const max = (a: string, b: string) => a < b ? b : a;

/** Applies `events` de-duplicated by id, ordered by csn per workgroup member; see the module comment. */
export function rebuildByCsn(events: Iterable<DeliveredEvent>): Rebuilt {
  const names = new Map<string, NameState>();
  const seen = new Set<string>();
  const result: Rebuilt = {
    memberships: new Map(),
    delivered: 0,
    applied: 0,
    duplicates: 0,
    failed: 0,
    orderViolations: [],
    stale: 0,
  };
  const state = (name: string): NameState => {
    let s = names.get(name);
    if (s === undefined) {
      s = { exists: false, floor: "", latest: "", members: new Map() };
      names.set(name, s);
    }
    return s;
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
    if (event.csn === undefined) {
      throw new TypeError(
        `Cannot order event ${event.id} by csn: the call carries none (the command must pass {csn})`,
      );
    }
    if (apply(event, event.csn, state)) result.applied++;
    else result.stale++;
  }
  for (const [name, s] of names) {
    if (!s.exists) continue;
    result.memberships.set(
      name,
      new Set(
        [...s.members].filter(([, m]) => m.present).map(([key]) => key),
      ),
    );
  }
  return result;
}

/** Applies one event; false when it is stale. */
function apply(
  event: DeliveredEvent,
  csn: string,
  state: (name: string) => NameState,
): boolean {
  const s = state(event.workgroup);
  switch (event.type) {
    case "member.added":
    case "member.removed": {
      // A change older than the rename of its name, delivered after it (a
      // lagging pair's): the entry holds the new name now.
      let target = s;
      const followed = new Set<NameState>([s]);
      while (
        !target.exists && target.renamedTo !== undefined &&
        csn < target.renamedTo.csn
      ) {
        const next = state(target.renamedTo.name);
        if (followed.has(next)) break;
        followed.add(next);
        target = next;
      }
      const key = memberKey(event.member ?? "");
      const member = target.members.get(key);
      if (csn < target.floor || (member !== undefined && csn < member.csn)) {
        return false;
      }
      target.members.set(key, {
        present: event.type === "member.added",
        csn,
      });
      target.exists = true;
      target.latest = max(target.latest, csn);
      return true;
    }
    case "workgroup.created":
    case "workgroup.snapshot": {
      if (event.type === "workgroup.created" && csn < s.floor) return false;
      const listed = new Set((event.members ?? []).map(memberKey));
      for (const [key, member] of s.members) {
        if (!listed.has(key) && member.csn <= csn) {
          s.members.set(key, { present: false, csn });
        }
      }
      for (const key of listed) {
        const member = s.members.get(key);
        if (member === undefined || member.csn <= csn) {
          s.members.set(key, { present: true, csn });
        }
      }
      s.exists = true;
      s.floor = csn;
      s.latest = max(s.latest, csn);
      s.renamedTo = undefined;
      return true;
    }
    case "workgroup.deleted":
      if (csn < s.latest) return false;
      s.exists = false;
      s.floor = csn;
      s.latest = csn;
      s.members = new Map();
      return true;
    case "workgroup.renamed": {
      const previous = state(event.previous ?? "");
      // The previous name was established again after this rename.
      if (previous.exists && csn < previous.floor) return false;
      const retires = previous.exists;
      if (!s.exists && csn >= s.floor) {
        const moved = previous.exists ? previous.members : new Map();
        for (const [key, member] of s.members) {
          if (member.csn > csn) moved.set(key, member);
        }
        s.members = moved;
        s.exists = true;
        // The floor stays: a rename carries no member list, and a lagging
        // copy's rename (a later csn) must not hide the member events
        // between the rename and that csn.
        // What the previous name saw after it was gone (a lagging copy's
        // deletion under the old name) is no fact about the new one.
        s.latest = max(
          previous.exists ? max(s.latest, previous.latest) : s.latest,
          csn,
        );
      } else if (!retires) {
        // The new name is there already (this move applied from another
        // consumer's copy) or went after this rename (deleted, renamed
        // on): a late copy of the rename.
        return false;
      }
      // Otherwise the new name is there already (a lagging copy first saw
      // the entry under it and created it) or went after this rename; the
      // previous name went all the same.
      previous.exists = false;
      previous.floor = max(previous.floor, csn);
      previous.latest = max(previous.latest, csn);
      previous.members = new Map();
      previous.renamedTo = { name: event.workgroup, csn };
      return true;
    }
    default:
      throw new TypeError(
        `Cannot apply event ${event.id}: type "${event.type}" is not one of schema v1's`,
      );
  }
}
