/**
 * The simulated directory of the crash test (tests/consumer_crash_test.ts): a
 * deterministic sequence of sync messages as the sync client would yield
 * them from slapd — the initial workgroups, 1,000 persist-stage changes with
 * cookies, and the state after any change.
 *
 * @module
 */

import type { SyncMessage } from "../../lib/ldap/sync_message.ts";
import { cookie, group, person, uuid } from "./consumer.ts";

/** The directory changes the child applies. */
export const CHANGES = 1000;
/** The CSN number of the initial refresh; change k carries this + k. */
export const FIRST_CHANGE_CSN = 100; // change k carries csn(100 + k); the initial refresh csn(100)

/** A workgroup of the simulated directory. */
export interface Entry {
  n: number;
  name: string;
  members: string[];
  /** The CSN number of the entry's last change. */
  csn: number;
}

/** One change of the simulated directory. */
export type Change = { kind: "add" | "modify"; entry: Entry } | {
  kind: "delete";
  n: number;
};

/** A small deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The simulated directory: the initial workgroups and 1,000 changes. */
export function directory(): {
  initial: Map<number, Entry>;
  changes: Change[];
} {
  const random = prng(0x5eed);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)];
  const pool = Array.from({ length: 100 }, (_, i) => person(`p${i}`));
  const initial = new Map<number, Entry>();
  for (let n = 1; n <= 30; n++) {
    const members = pool.filter(() => random() < 0.06);
    initial.set(n, { n, name: `crash:g${n}`, members, csn: n });
  }
  const state = new Map(
    [...initial].map(([n, e]) => [n, { ...e, members: [...e.members] }]),
  );
  const changes: Change[] = [];
  let next = 31;
  let recreate: string | undefined;
  for (let k = 1; k <= CHANGES; k++) {
    const at = FIRST_CHANGE_CSN + k;
    const r = random();
    const live = [...state.values()];
    if (recreate !== undefined) {
      const entry = {
        n: next++,
        name: recreate,
        members: [pick(pool)],
        csn: at,
      };
      state.set(entry.n, entry);
      changes.push({
        kind: "add",
        entry: { ...entry, members: [...entry.members] },
      });
      recreate = undefined;
      continue;
    }
    let entry: Entry;
    if (r < 0.55 || live.length < 6) {
      entry = pick(live);
      const candidates = pool.filter((dn) => !entry.members.includes(dn));
      entry.members.push(pick(candidates));
    } else if (r < 0.8) {
      entry = pick(live);
      if (entry.members.length > 0) {
        entry.members.splice(Math.floor(random() * entry.members.length), 1);
      }
    } else if (r < 0.86) {
      entry = {
        n: next++,
        name: `crash:n${k}`,
        members: pool.filter(() => random() < 0.05),
        csn: at,
      };
      state.set(entry.n, entry);
      changes.push({
        kind: "add",
        entry: { ...entry, members: [...entry.members] },
      });
      continue;
    } else if (r < 0.95) {
      const victim = pick(live);
      state.delete(victim.n);
      changes.push({ kind: "delete", n: victim.n });
      // Every other deletion is followed by a re-creation of the same name.
      if (r >= 0.905) recreate = victim.name;
      continue;
    } else {
      entry = pick(live);
      entry.name = `crash:r${k}`;
    }
    entry.csn = at;
    changes.push({
      kind: "modify",
      entry: { ...entry, members: [...entry.members] },
    });
  }
  return { initial, changes };
}

/** The directory state after change `k` (0 = initial). */
export function stateAt(
  dir: ReturnType<typeof directory>,
  k: number,
): Map<number, Entry> {
  const state = new Map(dir.initial);
  for (const change of dir.changes.slice(0, k)) {
    if (change.kind === "delete") state.delete(change.n);
    else state.set(change.entry.n, change.entry);
  }
  return state;
}

/** The sync message of `entry` in `state`, with the cookie of `cookieFor` when given. */
export function entryMessage(
  state: "add" | "modify",
  entry: Entry,
  cookieFor?: number,
): SyncMessage {
  return group(state, entry.n, entry.name, entry.members, entry.csn, {
    cookie: cookieFor === undefined ? undefined : cookie(cookieFor),
  });
}

/** The sync message of change `k`, with its cookie. */
export function changeMessage(
  dir: ReturnType<typeof directory>,
  k: number,
): SyncMessage {
  const change = dir.changes[k - 1];
  const at = FIRST_CHANGE_CSN + k;
  if (change.kind === "delete") {
    return {
      kind: "entry",
      state: "delete",
      entryUUID: uuid(change.n),
      dn: "",
      attributes: {},
      cookie: cookie(at),
    };
  }
  return entryMessage(change.kind, change.entry, at);
}
