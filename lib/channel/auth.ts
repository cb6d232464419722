/**
 * Mutual authentication of the channel: HMAC-SHA256 challenge/response over a
 * shared key read from a file of mode 0600 or tighter. The key never leaves
 * {@linkcode AuthKey}; it is not printed, logged or serialized.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { looseSecretMode } from "../secret_file.ts";
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

  /** HMAC-SHA256(key, label | challenge). */
  proof(label: "client" | "server", challenge: Uint8Array): Uint8Array {
    return createHmac("sha256", this.#key).update(label).update(challenge)
      .digest();
  }

  /** Checks a proof in constant time. */
  verify(
    label: "client" | "server",
    challenge: Uint8Array,
    proof: Uint8Array,
  ): boolean {
    const expected = this.proof(label, challenge);
    return proof.length === expected.length && timingSafeEqual(expected, proof);
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

/** Both directions of a connection, as frames. */
export interface FrameIO {
  reader: FrameReader;
  writer: FrameWriter;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function fromHex(text: string): Uint8Array {
  return /^[0-9a-f]*$/i.test(text) && text.length % 2 === 0
    ? new Uint8Array(Buffer.from(text, "hex"))
    : new Uint8Array(0);
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

async function send(
  io: FrameIO,
  message: Parameters<typeof encodeMessage>[0],
): Promise<void> {
  await io.writer.write(encodeFrame(encodeMessage(message)));
}

/**
 * The server's side: challenge the client, check its proof, prove the key in
 * turn. Throws {@linkcode AuthError} (after telling the client why) or a
 * framing/protocol error.
 */
export async function serverHandshake(
  io: FrameIO,
  key: AuthKey,
): Promise<void> {
  const challenge = new Uint8Array(randomBytes(CHALLENGE_BYTES));
  await send(io, {
    type: "challenge",
    version: PROTOCOL_VERSION,
    challenge: Buffer.from(challenge).toString("base64"),
  });
  const payload = await io.reader.read();
  if (payload === null) {
    throw new AuthError(
      "the peer closed the connection before answering the challenge",
    );
  }
  const hello = decodeMessage(payload, ["hello"]);
  const refuse = async (reason: string): Promise<never> => {
    await send(io, { type: "refused", reason }).catch(() => {});
    throw new AuthError(reason);
  };
  if (hello.version !== PROTOCOL_VERSION) {
    await refuse(
      `expected protocol version ${PROTOCOL_VERSION}, got ${hello.version}`,
    );
  }
  if (!key.verify("client", challenge, fromHex(hello.proof))) {
    await refuse(
      "wrong proof: expected HMAC-SHA256 of the server challenge under the shared auth key (the client holds another key)",
    );
  }
  const clientChallenge = fromBase64(hello.challenge, "client challenge");
  await send(io, {
    type: "welcome",
    proof: hex(key.proof("server", clientChallenge)),
  });
}

/**
 * The client's side: answer the server's challenge, challenge it in turn and
 * check its proof. Throws {@linkcode AuthError} or a framing/protocol error.
 */
export async function clientHandshake(
  io: FrameIO,
  key: AuthKey,
): Promise<void> {
  const first = await io.reader.read();
  if (first === null) {
    throw new AuthError(
      "the server closed the connection before sending its challenge",
    );
  }
  const offer = decodeMessage(first, ["challenge"]);
  if (offer.version !== PROTOCOL_VERSION) {
    throw new AuthError(
      `expected protocol version ${PROTOCOL_VERSION}, got ${offer.version}`,
    );
  }
  const serverChallenge = fromBase64(offer.challenge, "server challenge");
  const challenge = new Uint8Array(randomBytes(CHALLENGE_BYTES));
  await send(io, {
    type: "hello",
    version: PROTOCOL_VERSION,
    proof: hex(key.proof("client", serverChallenge)),
    challenge: Buffer.from(challenge).toString("base64"),
  });
  const second = await io.reader.read();
  if (second === null) {
    throw new AuthError(
      "the server closed the connection without answering (wrong key?)",
    );
  }
  const answer = decodeMessage(second, ["welcome", "refused"]);
  if (answer.type === "refused") {
    throw new AuthError(`the server refused the connection: ${answer.reason}`);
  }
  if (!key.verify("server", challenge, fromHex(answer.proof))) {
    throw new AuthError(
      "the server's proof is wrong: expected HMAC-SHA256 of the client challenge under the shared auth key (the server holds another key)",
    );
  }
}
