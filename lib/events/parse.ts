/**
 * The strict reader of event bodies (schema v1): whoever receives events
 * (wgsync-remctl from SQS, wgsync-web) parses them here, so a body that is
 * not an event is refused with one reason naming the field and what was
 * expected, and every field the consumer reads is known to be there.
 *
 * @module
 */

import { z } from "zod";
import type { EventType, WorkgroupEvent } from "./schema.ts";
import { EVENT_TYPES, workgroupStem } from "./schema.ts";

/** A body is not a valid schema v1 event; `field` names the offending field ("" for the body). */
export class EventParseError extends Error {
  /** The dotted path of the bad field, e.g. `member.dn`; "" for the whole body. */
  field: string;

  /** Creates the error. */
  constructor(message: string, options: ErrorOptions & { field: string }) {
    super(message, options);
    this.name = "EventParseError";
    this.field = options.field;
  }
}

const member = z.strictObject({
  dn: z.string().min(1),
  id: z.string(),
  uid: z.string().nullable(),
});

const base = z.strictObject({
  v: z.literal(1),
  id: z.string().regex(/^[0-9a-f]{64}$/, {
    message: "expected 64 lowercase hex digits (SHA-256)",
  }),
  type: z.enum(EVENT_TYPES),
  workgroup: z.string().min(1),
  stem: z.string().min(1),
  member: member.optional(),
  members: z.array(member).optional(),
  previous: z.string().min(1).optional(),
  csn: z.string().min(1),
  seq: z.number().int().nonnegative(),
  observedAt: z.iso.datetime({ offset: true }),
});

/** What each type requires beyond the common fields. */
const REQUIRED: Record<EventType, "member" | "members" | "previous" | null> = {
  "member.added": "member",
  "member.removed": "member",
  "workgroup.created": "members",
  "workgroup.snapshot": "members",
  "workgroup.renamed": "previous",
  "workgroup.deleted": null,
};

/**
 * Parses and validates one event body. Throws an {@linkcode EventParseError}
 * such as `Cannot read the event as field "member.dn" is invalid: expected
 * string, received number`.
 */
export function parseEvent(body: string): WorkgroupEvent {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw new EventParseError(
      `Cannot read the event as its body is not JSON: ${
        (error as Error).message
      }`,
      { field: "", cause: error },
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new EventParseError(
      `Cannot read the event as its body is not a JSON object: got ${
        Array.isArray(value) ? "an array" : typeof value
      }`,
      { field: "" },
    );
  }
  const result = base.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue.path.map(String).join(".");
    const what = issue.code === "unrecognized_keys"
      ? `unknown field${issue.keys.length > 1 ? "s" : ""} ${
        issue.keys.map((key) => `"${key}"`).join(", ")
      } (schema v1 has none)`
      : issue.message;
    throw new EventParseError(
      field === ""
        ? `Cannot read the event: ${what}`
        : `Cannot read the event as field "${field}" is invalid: ${what}`,
      {
        field: field === "" && issue.code === "unrecognized_keys"
          ? issue.keys[0]
          : field,
      },
    );
  }
  const event = result.data as WorkgroupEvent;
  const needed = REQUIRED[event.type];
  if (needed !== null && event[needed] === undefined) {
    throw new EventParseError(
      `Cannot read the event as field "${needed}" is missing: a ${event.type} event carries it`,
      { field: needed },
    );
  }
  if (workgroupStem(event.workgroup) !== event.stem) {
    throw new EventParseError(
      `Cannot read the event as field "stem" is invalid: expected the part of the workgroup "${event.workgroup}" before its first ":", got "${event.stem}"`,
      { field: "stem" },
    );
  }
  return event;
}
