/**
 * Members of workgroups: `{ dn, id, uid }` from a member DN, with the uid (and
 * optionally the unique id) looked up in a table kept current by the people
 * search.
 *
 * @module
 */

import type { Member } from "../events/mod.ts";

/** What the people search knows about one person. */
export interface Person {
  /** The account name (the configured uid attribute), if the entry has one. */
  uid: string | null;
  /** The configured unique-id attribute's value, if configured and present. */
  uniqueId: string | null;
}

const BLANK = /\s/;

/**
 * The matching key of a DN: attribute types and values lower-cased, blanks
 * around `,` `+` `=` removed. This is the case-insensitive match of the usual
 * DN-valued and naming attributes (uid, cn, ou, dc), without schema access.
 */
export function dnKey(dn: string): string {
  if (!BLANK.test(dn)) return dn.toLowerCase();
  let key = "";
  let pending = "";
  for (let i = 0; i < dn.length; i++) {
    const c = dn[i];
    if (c === "\\" && i + 1 < dn.length) {
      key += pending + c + dn[i + 1];
      pending = "";
      i++;
    } else if (c === "," || c === "+" || c === "=") {
      key = key.trimEnd() + c;
      pending = "";
      while (i + 1 < dn.length && BLANK.test(dn[i + 1])) i++;
    } else if (BLANK.test(c)) {
      pending += c;
    } else {
      key += pending + c;
      pending = "";
    }
  }
  return key.toLowerCase();
}

/**
 * The value of a DN's first RDN (first AVA of a multi-valued RDN), with
 * RFC 4514 escapes undone; the input itself when it has no `=`.
 */
export function rdnValue(dn: string): string {
  const eq = dn.indexOf("=");
  if (eq < 0) return dn;
  const comma = dn.indexOf(",", eq);
  const plus = dn.indexOf("+", eq);
  let end = comma < 0 ? dn.length : comma;
  if (plus >= 0 && plus < end) end = plus;
  const backslash = dn.indexOf("\\", eq);
  if (backslash < 0 || backslash > end) return dn.slice(eq + 1, end).trim();
  // Escapes: find the first unescaped separator.
  for (end = eq + 1; end < dn.length; end++) {
    const c = dn[end];
    if (c === "\\") end++;
    else if (c === "," || c === "+") break;
  }
  return unescapeValue(dn.slice(eq + 1, end).trim());
}

function unescapeValue(raw: string): string {
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === "\\" && i + 1 < raw.length) {
      const hex = raw.slice(i + 1, i + 3);
      if (/^[0-9a-fA-F]{2}$/.test(hex)) {
        bytes.push(parseInt(hex, 16));
        i += 2;
      } else {
        bytes.push(...encoder.encode(raw[i + 1]));
        i++;
      }
    } else {
      bytes.push(...encoder.encode(c));
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/**
 * The uid lookup table: person DN key → {@link Person}. Loaded from the store
 * at start and updated by the people search; resolves member DNs to members.
 */
export class MemberDirectory {
  #people = new Map<string, Person>();

  /** The number of people known. */
  get size(): number {
    return this.#people.size;
  }

  /** Records (or replaces) what is known about the person with this DN key. */
  set(key: string, person: Person): void {
    this.#people.set(key, person);
  }

  /** Forgets the person with this DN key. */
  delete(key: string): void {
    this.#people.delete(key);
  }

  /** Forgets everybody. */
  clear(): void {
    this.#people.clear();
  }

  /**
   * Resolves a member value: `id` is the person's unique id when known, else
   * the DN's RDN value; `uid` the person's account name when known, else null.
   */
  resolve(dn: string): Member {
    const person = this.#people.size === 0
      ? undefined
      : this.#people.get(dnKey(dn));
    return {
      dn,
      id: person?.uniqueId ?? rdnValue(dn),
      uid: person?.uid ?? null,
    };
  }
}

const boundDirectories = new WeakMap<object, MemberDirectory>();

/**
 * Records that `directory` is kept equal to the people table of `store`
 * (the people applier loads and updates both together); the store then
 * resolves member lists held by reference with it.
 */
export function bindDirectory(directory: MemberDirectory, store: object): void {
  boundDirectories.set(store, directory);
}

/** The directory bound to `store` by {@linkcode bindDirectory}, if any. */
export function boundDirectory(store: object): MemberDirectory | undefined {
  return boundDirectories.get(store);
}

/** Forgets the directory bound to `store` (it may no longer match the table). */
export function unbindDirectory(store: object): void {
  boundDirectories.delete(store);
}
