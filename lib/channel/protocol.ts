/**
 * The channel's messages, each one JSON frame:
 *
 * 1. server → client `{"type":"challenge","version":1,"challenge":B64}` (32 random bytes)
 * 2. client → server `{"type":"hello","version":1,"proof":HEX,"challenge":B64}`,
 *    proof = HMAC-SHA256(key, "client" | server challenge)
 * 3. server → client `{"type":"welcome","proof":HEX}`,
 *    proof = HMAC-SHA256(key, "server" | client challenge)
 *    — or `{"type":"refused","reason":TEXT}` and the server closes.
 * 4. client → server `{"type":"event","id":ID,"workgroup":NAME,"body":EVENT}`;
 *    server → client `{"type":"ack","id":ID}` once the handler accepted it.
 *
 * @module
 */

/** The protocol version spoken. */
export const PROTOCOL_VERSION = 1;

/** Raised for a frame that is not the message expected. */
export class ProtocolError extends Error {
  /** Constructs a ProtocolError. */
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

/** The server's challenge. */
export interface ChallengeMessage {
  type: "challenge";
  version: number;
  challenge: string;
}

/** The client's answer and its own challenge. */
export interface HelloMessage {
  type: "hello";
  version: number;
  proof: string;
  challenge: string;
}

/** The server's answer. */
export interface WelcomeMessage {
  type: "welcome";
  proof: string;
}

/** The server's refusal, sent before it closes. */
export interface RefusedMessage {
  type: "refused";
  reason: string;
}

/** An event. */
export interface EventMessage {
  type: "event";
  id: string;
  workgroup: string;
  body: unknown;
}

/** The acknowledgement of an event. */
export interface AckMessage {
  type: "ack";
  id: string;
}

/** Any channel message. */
export type ChannelMessage =
  | ChallengeMessage
  | HelloMessage
  | WelcomeMessage
  | RefusedMessage
  | EventMessage
  | AckMessage;

type Fields = Record<string, "string" | "number" | "any">;

const SHAPES: Record<ChannelMessage["type"], Fields> = {
  challenge: { version: "number", challenge: "string" },
  hello: { version: "number", proof: "string", challenge: "string" },
  welcome: { proof: "string" },
  refused: { reason: "string" },
  event: { id: "string", workgroup: "string", body: "any" },
  ack: { id: "string" },
};

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** Encodes a message as a frame payload. */
export function encodeMessage(message: ChannelMessage): Uint8Array {
  return encoder.encode(JSON.stringify(message));
}

/**
 * Encodes an event whose body is already JSON text, without parsing it
 * again. `body` must be valid JSON.
 */
export function encodeEvent(
  id: string,
  workgroup: string,
  body: string,
): Uint8Array {
  return encoder.encode(
    `{"type":"event","id":${JSON.stringify(id)},"workgroup":${
      JSON.stringify(workgroup)
    },"body":${body}}`,
  );
}

/**
 * Parses a frame payload as one of the `expected` message types; throws a
 * {@linkcode ProtocolError} saying what was expected and what came.
 */
export function decodeMessage<T extends ChannelMessage["type"]>(
  payload: Uint8Array,
  expected: readonly T[],
): Extract<ChannelMessage, { type: T }> {
  const wanted = expected.map((type) => `"${type}"`).join(" or ");
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(payload));
  } catch {
    throw new ProtocolError(
      `expected a JSON ${wanted} message, got ${payload.length} bytes that are not UTF-8 JSON (${
        preview(payload)
      })`,
    );
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ProtocolError(
      `expected a JSON object of type ${wanted}, got ${preview(payload)}`,
    );
  }
  const record = value as Record<string, unknown>;
  const type = record.type;
  if (typeof type !== "string" || !expected.includes(type as T)) {
    throw new ProtocolError(
      `expected a message of type ${wanted}, got type ${
        JSON.stringify(type ?? null)
      }`,
    );
  }
  for (const [field, kind] of Object.entries(SHAPES[type as T])) {
    const value = record[field];
    const ok = kind === "any"
      ? field in record
      : kind === "string"
      ? typeof value === "string"
      : typeof value === "number";
    if (!ok) {
      throw new ProtocolError(
        `expected field "${field}" (${kind}) in the "${type}" message, got ${
          JSON.stringify(record[field] ?? null).slice(0, 40)
        }`,
      );
    }
  }
  return record as unknown as Extract<ChannelMessage, { type: T }>;
}

function preview(payload: Uint8Array): string {
  const head = Array.from(
    payload.subarray(0, 16),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join(" ");
  return `first bytes ${head}${payload.length > 16 ? " …" : ""}`;
}
