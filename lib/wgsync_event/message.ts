/**
 * From a channel event to an SNS message: the event is checked against
 * schema v1 (its id and workgroup must match the channel frame's, its stem
 * the workgroup's), and the message carries the event JSON as its body and
 * the attributes `type`, `stem` and `workgroup` (String) that subscription
 * filter policies match on. Sizes are counted as SNS counts them: the body
 * plus each attribute's name, type and value, in UTF-8 bytes.
 *
 * @module
 */

import type { MessageAttributeValue } from "@aws-sdk/client-sns";
import { EXTENDED_PAYLOAD_SIZE_ATTRIBUTE } from "../aws/mod.ts";
import type { IncomingEvent } from "../channel/server.ts";
import { EVENT_TYPES, type EventType, workgroupStem } from "../events/mod.ts";

/** A checked event, ready to publish. */
export interface CheckedEvent {
  id: string;
  type: EventType;
  workgroup: string;
  stem: string;
  /** The event as JSON text: the message body. */
  json: string;
}

/** Raised for an event that does not follow schema v1. */
export class InvalidEventError extends Error {
  /** Constructs an InvalidEventError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InvalidEventError";
  }
}

const TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);

/** Checks a channel event; throws an InvalidEventError naming the event and the problem. */
export function checkEvent(event: IncomingEvent): CheckedEvent {
  const body = event.body as Record<string, unknown> | null;
  const problem = (what: string) =>
    new InvalidEventError(
      `Cannot publish the event as it does not follow schema v1: event id is "${event.id}", workgroup is ${
        JSON.stringify(event.workgroup)
      }, ${what}`,
    );
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw problem("expected a JSON object as the body");
  }
  if (body.v !== 1) {
    throw problem(`expected "v" 1, found ${JSON.stringify(body.v)}`);
  }
  if (body.id !== event.id) {
    throw problem(
      `expected "id" to equal the frame's, found ${JSON.stringify(body.id)}`,
    );
  }
  if (body.workgroup !== event.workgroup) {
    throw problem(
      `expected "workgroup" to equal the frame's, found ${
        JSON.stringify(body.workgroup)
      }`,
    );
  }
  if (typeof body.type !== "string" || !TYPES.has(body.type)) {
    throw problem(
      `expected "type" one of ${EVENT_TYPES.join(", ")}, found ${
        JSON.stringify(body.type)
      }`,
    );
  }
  const stem = workgroupStem(event.workgroup);
  if (stem === undefined) {
    throw problem('expected a workgroup name "stem:name"');
  }
  if (body.stem !== stem) {
    throw problem(
      `expected "stem" ${JSON.stringify(stem)}, found ${
        JSON.stringify(body.stem)
      }`,
    );
  }
  return {
    id: event.id,
    type: body.type as EventType,
    workgroup: event.workgroup,
    stem,
    json: JSON.stringify(body),
  };
}

/**
 * The SNS FIFO message group of an event: its workgroup's stem (a name
 * without one — an invalid event, dropped later — its own), the unit SNS and
 * SQS keep in order (README, "what subscribers receive": a rename and a
 * re-used name stay in their stem's order). It is also the order key of the
 * channel server's lanes, of the pipeline's hand-over and of the publisher,
 * so all of them agree on what must stay in order (one function for all).
 */
export function messageGroupId(event: { workgroup: string }): string {
  return workgroupStem(event.workgroup) ?? event.workgroup;
}

/** What SNS is given for one event. */
export interface SnsMessage {
  event: CheckedEvent;
  topicArn: string;
  /** {@linkcode messageGroupId} of the event. */
  groupId: string;
  /** The event JSON, or the claim-check pointer. */
  body: string;
  attributes: Record<string, MessageAttributeValue>;
  /** Body plus attributes, in bytes, as SNS counts the size. */
  size: number;
}

/** The message attributes of an event (filter policies match on these). */
export function eventAttributes(
  event: CheckedEvent,
): Record<string, MessageAttributeValue> {
  return {
    type: { DataType: "String", StringValue: event.type },
    stem: { DataType: "String", StringValue: event.stem },
    workgroup: { DataType: "String", StringValue: event.workgroup },
  };
}

/** The message for `event` with `body` (the event JSON unless given). */
export function snsMessage(
  event: CheckedEvent,
  topicArn: string,
  pointer?: { body: string; size: number },
): SnsMessage {
  const attributes = eventAttributes(event);
  if (pointer !== undefined) {
    attributes[EXTENDED_PAYLOAD_SIZE_ATTRIBUTE] = {
      DataType: "Number",
      StringValue: String(pointer.size),
    };
  }
  const body = pointer?.body ?? event.json;
  return {
    event,
    topicArn,
    groupId: messageGroupId(event),
    body,
    attributes,
    size: messageSize(body, attributes),
  };
}

const encoder = new TextEncoder();

/** The size SNS counts: the body and each attribute's name, type and value, in UTF-8 bytes. */
export function messageSize(
  body: string,
  attributes: Record<string, MessageAttributeValue>,
): number {
  let size = utf8Length(body);
  for (const [name, value] of Object.entries(attributes)) {
    size += utf8Length(name) + utf8Length(value.DataType ?? "") +
      utf8Length(value.StringValue ?? "");
  }
  return size;
}

function utf8Length(text: string): number {
  // ASCII (most events) needs no encoding to be measured.
  // deno-lint-ignore no-control-regex
  return /^[\u0000-\u007f]*$/.test(text)
    ? text.length
    : encoder.encode(text).length;
}
