/**
 * Workgroup events, schema v1 (see DESIGN.md "Events").
 *
 * An event id is the hex SHA-256 of directory facts only — the entryUUID, the
 * change's entryCSN, the event type and the member DN or workgroup name — so
 * two consumers of the same directory, or one consumer replaying a change
 * after a crash, produce the same id for the same change.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** Every event type of schema v1. */
export const EVENT_TYPES = [
  "member.added",
  "member.removed",
  "workgroup.created",
  "workgroup.deleted",
  "workgroup.renamed",
  "workgroup.snapshot",
] as const;

/** The event types of schema v1. */
export type EventType = typeof EVENT_TYPES[number];

/** A workgroup member as carried by events. */
export interface Member {
  /** The member value as the directory holds it (normally a DN). */
  dn: string;
  /** The RDN value of the DN, or the person's configured unique id. */
  id: string;
  /** The account name when the people search knows it, else null. */
  uid: string | null;
}

/** One event of schema v1. */
export interface WorkgroupEvent {
  v: 1;
  id: string;
  type: EventType;
  workgroup: string;
  stem: string;
  member?: Member;
  members?: Member[];
  previous?: string;
  csn: string;
  seq: number;
  observedAt: string;
}

/** The directory facts an event id is derived from. */
export interface EventFacts {
  entryUUID: string;
  /**
   * The entryCSN of the change; for a deletion of the entry itself (which
   * carries none) the entryCSN of the entry's last change before it.
   */
  csn: string;
  type: EventType;
  /** The member key for member events, the workgroup name otherwise; "" for an entry deletion. */
  key: string;
}

/**
 * Derives the deterministic event id: hex SHA-256 over the facts, separated
 * by NUL bytes (which cannot occur in LDAP strings' UTF-8 form).
 */
export function eventId(facts: EventFacts): string {
  return createHash("sha256")
    .update(
      `wgsync-v1\0${facts.entryUUID}\0${facts.csn}\0${facts.type}\0${facts.key}`,
    )
    .digest("hex");
}

/**
 * Returns the stem of a workgroup name `stem:name`, or undefined when the
 * name is not of that form (empty stem or name, whitespace in the stem,
 * control characters anywhere).
 */
export function workgroupStem(name: string): string | undefined {
  const colon = name.indexOf(":");
  if (colon <= 0 || colon === name.length - 1) return undefined;
  const stem = name.slice(0, colon);
  // deno-lint-ignore no-control-regex
  if (/\s/.test(stem) || /[\u0000-\u001f\u007f]/.test(name)) return undefined;
  return stem;
}

const COOKIE_DECODER = new TextDecoder("utf-8", { fatal: false });

/**
 * Extracts the greatest CSN from an OpenLDAP sync cookie
 * (`rid=000,sid=001,csn=A;B`), or undefined when it carries none.
 */
export function csnFromCookie(
  cookie: Uint8Array | undefined,
): string | undefined {
  if (cookie === undefined) return undefined;
  const text = COOKIE_DECODER.decode(cookie);
  const match = /(?:^|,)csn=([^,]*)/.exec(text);
  if (!match || match[1] === "") return undefined;
  return match[1].split(";").filter((csn) => csn !== "").sort().at(-1);
}
