/**
 * Mutual authentication of the channel (the handshake in protocol.ts): both
 * sides challenge, the server proves first, and the secrets of the record
 * layer are derived from a shared key read from a file of mode 0600 or
 * tighter and the handshake. The key never leaves
 * {@linkcode AuthKey}; it is not printed, logged or serialized.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { randomBytes, timingSafeEqual } from "node:crypto";
import { looseSecretMode } from "../secret_file.ts";
import { MIN_FRAME_BYTES } from "./defaults.ts";
import type { FrameReader, FrameWriter } from "./framing.ts";
import { encodeFrame } from "./framing.ts";
import { decodeMessage, encodeMessage, PROTOCOL_VERSION } from "./protocol.ts";

/** The smallest key accepted, in bytes. */
export const MIN_KEY_BYTES = 16;
/** The size of a challenge, in bytes. */
export const CHALLENGE_BYTES = 32;

/** Raised when the auth key file cannot be used. */
export class AuthKeyError extends Error {
  /** Constructs an AuthKeyError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AuthKeyError";
  }
}

/** Raised when the peer fails (or refuses) authentication. */
export class AuthError extends Error {
  /** Constructs an AuthError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AuthError";
  }
}

/** The shared key; its bytes cannot be read back. */
export class AuthKey {
  #key: Uint8Array;

  private constructor(key: Uint8Array) {
    this.#key = key;
  }

  /**
   * Reads the key file: it must be a regular file of mode 0600 or tighter
   * holding at least {@linkcode MIN_KEY_BYTES} bytes (trailing whitespace is
   * ignored, so `openssl rand -hex 32 > key` works).
   */
  static async load(path: string): Promise<AuthKey> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (error) {
      throw new AuthKeyError(
        `Cannot read the channel auth key: path is "${path}"`,
        {
          cause: error,
        },
      );
    }
    if (!info.isFile) {
      throw new AuthKeyError(
        `Cannot use the channel auth key as it is not a regular file: path is "${path}"`,
      );
    }
    const loose = looseSecretMode(info);
    if (loose !== undefined) {
      throw new AuthKeyError(
        `Cannot use the channel auth key as its file is open to group or others: path is "${path}", mode is ${loose}, expected 0600 or tighter`,
      );
    }
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (error) {
      throw new AuthKeyError(
        `Cannot read the channel auth key: path is "${path}"`,
        {
          cause: error,
        },
      );
    }
    let end = bytes.length;
    while (end > 0 && [0x0a, 0x0d, 0x20, 0x09].includes(bytes[end - 1])) end--;
    if (end < MIN_KEY_BYTES) {
      bytes.fill(0);
      throw new AuthKeyError(
        `Cannot use the channel auth key as it is too short: path is "${path}", expected at least ${MIN_KEY_BYTES} bytes`,
      );
    }
    const key = bytes.slice(0, end);
    bytes.fill(0);
    return new AuthKey(key);
  }

  /**
   * Derives the connection's secrets with HKDF-SHA256 (WebCrypto): the key
   * as input, `salt` (the handshake transcript's hash), one `info` label per
   * secret.
   */
  async deriveSecrets(salt: Uint8Array): Promise<SessionSecrets> {
    const base = await crypto.subtle.importKey(
      "raw",
      this.#key as Uint8Array<ArrayBuffer>,
      "HKDF",
      false,
      ["deriveBits"],
    );
    const derive = async (label: string) =>
      new Uint8Array(
        await crypto.subtle.deriveBits(
          {
            name: "HKDF",
            hash: "SHA-256",
            salt: salt as Uint8Array<ArrayBuffer>,
            info: encoder.encode(`wgsync channel ${PROTOCOL_VERSION} ${label}`),
          },
          base,
          256,
        ),
      );
    return {
      serverProof: await derive("server proof"),
      clientProof: await derive("client proof"),
      clientToServer: await derive("client to server"),
      serverToClient: await derive("server to client"),
    };
  }

  /** Never reveals the key. */
  toString(): string {
    return "AuthKey([redacted])";
  }

  /** Never reveals the key. */
  toJSON(): string {
    return "[redacted]";
  }

  /** Never reveals the key. */
  [Symbol.for("Deno.customInspect")](): string {
    return "AuthKey([redacted])";
  }
}

/** The secrets of one connection, derived from the key and the handshake. */
export interface SessionSecrets {
  serverProof: Uint8Array;
  clientProof: Uint8Array;
  /** The MAC key of records from the client. */
  clientToServer: Uint8Array;
  /** The MAC key of records from the server. */
  serverToClient: Uint8Array;
}

/** What a handshake yields: the record keys and the peer's limits. */
export interface HandshakeResult {
  /** The MAC key of the records this side sends. */
  sendKey: Uint8Array;
  /** The MAC key of the records this side receives. */
  receiveKey: Uint8Array;
  /** The largest frame the peer accepts. */
  peerMaxFrameBytes: number;
  /** The largest event the server accepts (the client learns it; the server knows its own). */
  peerMaxEventBytes: number;
}

/** Both directions of a connection, as plain frames. */
export interface FrameIO {
  reader: FrameReader;
  writer: FrameWriter;
}

const encoder = new TextEncoder();

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function sameProof(expected: Uint8Array, text: string): boolean {
  const proof = /^[0-9a-f]*$/i.test(text) && text.length % 2 === 0
    ? new Uint8Array(Buffer.from(text, "hex"))
    : new Uint8Array(0);
  return proof.length === expected.length && timingSafeEqual(expected, proof);
}

function fromBase64(text: string, what: string): Uint8Array {
  const bytes = new Uint8Array(Buffer.from(text, "base64"));
  if (bytes.length !== CHALLENGE_BYTES) {
    throw new AuthError(
      `expected a ${what} of ${CHALLENGE_BYTES} bytes, got ${bytes.length}`,
    );
  }
  return bytes;
}

function frameLimit(value: number, what: string): number {
  if (!Number.isInteger(value) || value < MIN_FRAME_BYTES) {
    throw new AuthError(
      `expected ${what} to be an integer of at least ${MIN_FRAME_BYTES}, got ${value}`,
    );
  }
  return value;
}

async function transcriptHash(
  challenge: Uint8Array,
  hello: Uint8Array,
): Promise<Uint8Array> {
  const both = new Uint8Array(challenge.length + hello.length);
  both.set(challenge);
  both.set(hello, challenge.length);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", both));
}

async function send(io: FrameIO, payload: Uint8Array): Promise<void> {
  await io.writer.write(encodeFrame(payload));
}

/**
 * The server's side (see protocol.ts): challenge, read the client's
 * challenge, prove, check the client's proof. Throws {@linkcode AuthError}
 * (after telling the client why) or a framing/protocol error. The caller
 * sends the sealed `ready`.
 */
export async function serverHandshake(
  io: FrameIO,
  key: AuthKey,
  limits: { maxFrameBytes: number; maxEventBytes: number },
): Promise<HandshakeResult> {
  const challenge = encodeMessage({
    type: "challenge",
    version: PROTOCOL_VERSION,
    challenge: Buffer.from(randomBytes(CHALLENGE_BYTES)).toString("base64"),
    maxFrameBytes: limits.maxFrameBytes,
    maxEventBytes: limits.maxEventBytes,
  });
  await send(io, challenge);
  const refuse = async (reason: string): Promise<never> => {
    await send(io, encodeMessage({ type: "refused", reason })).catch(() => {});
    throw new AuthError(reason);
  };
  const hello = await io.reader.read();
  if (hello === null) {
    throw new AuthError(
      "the peer closed the connection before answering the challenge",
    );
  }
  const offer = decodeMessage(hello, ["hello"]);
  if (offer.version !== PROTOCOL_VERSION) {
    await refuse(
      `expected protocol version ${PROTOCOL_VERSION}, got ${offer.version}`,
    );
  }
  let peerMaxFrameBytes = 0;
  try {
    fromBase64(offer.challenge, "client challenge");
    peerMaxFrameBytes = frameLimit(
      offer.maxFrameBytes,
      "the client's maxFrameBytes",
    );
  } catch (error) {
    await refuse((error as Error).message);
  }
  const secrets = await key.deriveSecrets(
    await transcriptHash(challenge, hello),
  );
  await send(
    io,
    encodeMessage({ type: "welcome", proof: hex(secrets.serverProof) }),
  );
  const second = await io.reader.read();
  if (second === null) {
    throw new AuthError(
      "the client closed the connection without proving the key (it holds another key and so refused the server's proof)",
    );
  }
  const proof = decodeMessage(second, ["proof"]);
  if (!sameProof(secrets.clientProof, proof.proof)) {
    await refuse(
      "wrong proof: expected the client proof derived from the shared auth key and this handshake (the client holds another key, or the proof was reflected or relayed from another handshake)",
    );
  }
  return {
    sendKey: secrets.serverToClient,
    receiveKey: secrets.clientToServer,
    peerMaxFrameBytes,
    peerMaxEventBytes: limits.maxEventBytes,
  };
}

/**
 * The client's side (see protocol.ts): read the server's challenge, send
 * its own, check the server's proof, and only then prove the key. Returns
 * the keys and the first frame after the proof (the sealed `ready`, for the
 * record layer to open). Throws {@linkcode AuthError} or a framing/protocol
 * error.
 */
export async function clientHandshake(
  io: FrameIO,
  key: AuthKey,
  limits: { maxFrameBytes: number },
): Promise<HandshakeResult & { ready: Uint8Array }> {
  const challenge = await io.reader.read();
  if (challenge === null) {
    throw new AuthError(
      "the server closed the connection before sending its challenge",
    );
  }
  const offer = decodeMessage(challenge, ["challenge"]);
  if (offer.version !== PROTOCOL_VERSION) {
    throw new AuthError(
      `expected protocol version ${PROTOCOL_VERSION}, got ${offer.version}`,
    );
  }
  fromBase64(offer.challenge, "server challenge");
  const peerMaxFrameBytes = frameLimit(
    offer.maxFrameBytes,
    "the server's maxFrameBytes",
  );
  const peerMaxEventBytes = frameLimit(
    offer.maxEventBytes,
    "the server's maxEventBytes",
  );
  const hello = encodeMessage({
    type: "hello",
    version: PROTOCOL_VERSION,
    challenge: Buffer.from(randomBytes(CHALLENGE_BYTES)).toString("base64"),
    maxFrameBytes: limits.maxFrameBytes,
  });
  await send(io, hello);
  const secrets = await key.deriveSecrets(
    await transcriptHash(challenge, hello),
  );
  const second = await io.reader.read();
  if (second === null) {
    throw new AuthError(
      "the server closed the connection without answering (another protocol version?)",
    );
  }
  const answer = decodeMessage(second, ["welcome", "refused"]);
  if (answer.type === "refused") {
    throw new AuthError(`the server refused the connection: ${answer.reason}`);
  }
  if (!sameProof(secrets.serverProof, answer.proof)) {
    throw new AuthError(
      "the server's proof is wrong: expected the server proof derived from the shared auth key and this handshake (the server holds another key, or the handshake was altered on the way)",
    );
  }
  await send(
    io,
    encodeMessage({ type: "proof", proof: hex(secrets.clientProof) }),
  );
  const ready = await io.reader.read();
  if (ready === null) {
    throw new AuthError(
      "the server closed the connection after the client's proof (wrong key?)",
    );
  }
  // A refusal is plain JSON; the sealed `ready` starts with sequence number 0.
  if (ready[0] === 0x7b) {
    const refused = decodeMessage(ready, ["refused"]);
    throw new AuthError(`the server refused the connection: ${refused.reason}`);
  }
  return {
    sendKey: secrets.clientToServer,
    receiveKey: secrets.serverToClient,
    peerMaxFrameBytes,
    peerMaxEventBytes,
    ready,
  };
}
