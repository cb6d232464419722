/**
 * The channel's wire format, version 2. Everything on the wire is a frame: a
 * 4-byte big-endian length, then that many bytes.
 *
 * ## Handshake (plain frames, each one JSON message, at most 4096 bytes)
 *
 * 1. server → client `{"type":"challenge","version":2,"challenge":B64,
 *    "maxFrameBytes":N,"maxEventBytes":M}`: 32 random bytes and the
 *    server's limits.
 * 2. client → server `{"type":"hello","version":2,"challenge":B64,
 *    "maxFrameBytes":N}`: the client's 32 random bytes and its frame limit.
 *    No proof yet: the client proves nothing before the server has.
 * 3. Both sides derive four 32-byte secrets with HKDF-SHA256 (WebCrypto):
 *    input key = the shared key, salt = SHA-256(the payload of frame 1 |
 *    the payload of frame 2, exactly as sent), info = `wgsync channel 2 ` +
 *    one of `server proof`, `client proof`, `client to server`,
 *    `server to client`. Both challenges, the version and the limits are so
 *    bound into every secret.
 * 4. server → client `{"type":"welcome","proof":HEX}`: the server proof
 *    secret. The client checks it (constant time) and only then sends
 * 5. client → server `{"type":"proof","proof":HEX}`: the client proof
 *    secret. A proof is useless anywhere else: it depends on both fresh
 *    challenges and on the role (a reflected server proof is not a client
 *    proof). A wrong proof gets `{"type":"refused","reason":TEXT}` and the
 *    server closes.
 * 6. server → client, sealed: `{"type":"ready"}`; the connection is up.
 *
 * ## Records (every frame after the handshake)
 *
 * A frame's bytes are a record: an 8-byte big-endian sequence number
 * (0, 1, 2, … per direction), data, and a 16-byte MAC = the first 16 bytes
 * of HMAC-SHA256(the direction's key, sequence number | data). A frame
 * longer than the receiver's `maxFrameBytes` (`channel.max_frame_bytes`,
 * announced in the handshake) is refused before it is buffered: a guard
 * against garbage. A record whose MAC fails (forged, altered, from another
 * connection) or whose sequence number is not the next (dropped, replayed,
 * reordered) is a protocol error: the receiver closes the connection and logs
 * it naming the peer; the client reconnects and re-sends what is not
 * acknowledged.
 *
 * ## Messages (in the records' data)
 *
 * The data of a direction's records, joined, is a stream of messages, each a
 * 4-byte big-endian length and that much JSON. A message may span records
 * (continuation: an event of any size travels, split at the frame limit) and
 * a record may carry several messages (writes queued together are sealed
 * together). A message longer than the receiver's limit
 * (`channel.max_event_bytes` at the server, the frame limit at the client)
 * is refused from its length, before it is buffered.
 *
 * - client → server `{"type":"event","id":ID,"workgroup":NAME,"body":EVENT}`
 * - server → client `{"type":"ack","id":ID}` once the handler accepted it.
 *
 * The data is authenticated, not encrypted: the channel stays on the host
 * (a Unix socket or a loopback port).
 *
 * @module
 */

/** The protocol version spoken. */
export const PROTOCOL_VERSION = 2;

/** Raised for a frame that is not the message expected. */
export class ProtocolError extends Error {
  /** Constructs a ProtocolError. */
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

/** The server's challenge and limits. */
export interface ChallengeMessage {
  type: "challenge";
  version: number;
  challenge: string;
  maxFrameBytes: number;
  maxEventBytes: number;
}

/** The client's challenge and frame limit. */
export interface HelloMessage {
  type: "hello";
  version: number;
  challenge: string;
  maxFrameBytes: number;
}

/** The server's proof. */
export interface WelcomeMessage {
  type: "welcome";
  proof: string;
}

/** The client's proof, sent once the server's checked out. */
export interface ProofMessage {
  type: "proof";
  proof: string;
}

/** The server's refusal, sent before it closes. */
export interface RefusedMessage {
  type: "refused";
  reason: string;
}

/** The server's first sealed message: the connection is up. */
export interface ReadyMessage {
  type: "ready";
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
  | ProofMessage
  | RefusedMessage
  | ReadyMessage
  | EventMessage
  | AckMessage;

type Fields = Record<string, "string" | "number" | "any">;

const SHAPES: Record<ChannelMessage["type"], Fields> = {
  // The limits are checked after the version (auth.ts), so that a peer of
  // another version is told about the version.
  challenge: { version: "number", challenge: "string" },
  hello: { version: "number", challenge: "string" },
  welcome: { proof: "string" },
  proof: { proof: "string" },
  refused: { reason: "string" },
  ready: {},
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
 * The JSON text of an event message whose body is already JSON text, without
 * parsing it again. `body` must be valid JSON.
 */
export function eventText(
  id: string,
  workgroup: string,
  body: string,
): string {
  return `{"type":"event","id":${JSON.stringify(id)},"workgroup":${
    JSON.stringify(workgroup)
  },"body":${body}}`;
}

/** Encodes an event message (see {@linkcode eventText}) as a frame payload. */
export function encodeEvent(
  id: string,
  workgroup: string,
  body: string,
): Uint8Array {
  return encoder.encode(eventText(id, workgroup, body));
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
