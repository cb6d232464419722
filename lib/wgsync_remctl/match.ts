/**
 * Which events a target wants: event types, stems and workgroup globs
 * (`*` any run of characters, `?` one character), each list optional.
 *
 * @module
 */

import type { EventType, WorkgroupEvent } from "../events/mod.ts";

/** The `match` table of a target. */
export interface TargetMatch {
  types?: readonly EventType[];
  stems?: readonly string[];
  workgroups?: readonly string[];
}

/** A predicate for events built from a target's `match`. */
export function eventMatcher(
  match: TargetMatch,
): (event: WorkgroupEvent) => boolean {
  const globs = match.workgroups?.map(globPattern);
  return (event) =>
    (match.types === undefined || match.types.includes(event.type)) &&
    (match.stems === undefined || match.stems.includes(event.stem)) &&
    (globs === undefined || globs.some((glob) => glob.test(event.workgroup)));
}

function globPattern(glob: string): RegExp {
  const body = Array.from(
    glob,
    (char) =>
      char === "*"
        ? ".*"
        : char === "?"
        ? "."
        : char.replace(/[.+^${}()|[\]\\/-]/g, "\\$&"),
  ).join("");
  return new RegExp(`^${body}$`, "s");
}
