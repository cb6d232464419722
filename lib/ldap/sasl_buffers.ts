/**
 * The SASL security layer on the wire (RFC 4422 section 3.7, RFC 4752): after
 * a bind that negotiated integrity or confidentiality, every buffer both ways
 * is a 4-byte big-endian length and a token the layer wrapped.
 *
 * @module
 */

import { LdapProtocolError } from "./errors.ts";
import type { ReadBuffer } from "./read_buffer.ts";

/** The negotiated SASL security layer: what the connection needs to wrap and unwrap. */
export interface SecurityLayer {
  /** Largest plaintext the server accepts in one wrapped buffer. */
  readonly maxSendSize: number;
  /** Wraps (signs or seals) outgoing bytes into one token. */
  wrap(data: Uint8Array): Uint8Array;
  /** Unwraps one incoming token into plaintext. */
  unwrap(token: Uint8Array): Uint8Array;
  /** Releases the security context; called when the connection closes. */
  close?(): void;
}

/** Options of {@linkcode saslBufferSize}. */
export interface SaslBufferSizeOptions {
  /** The largest buffer this client offered to accept. */
  maxReceiveSize: number;
  /** The server, as `scheme://host:port`, for messages. */
  label: string;
}

/**
 * The token length of the SASL buffer at the start of `raw` (at least 4 bytes
 * buffered); throws past `maxReceiveSize`.
 */
export function saslBufferSize(
  raw: ReadBuffer,
  options: SaslBufferSizeOptions,
): number {
  const b = raw.bytes;
  const s = raw.start;
  const length = ((b[s] << 24) >>> 0) + (b[s + 1] << 16) + (b[s + 2] << 8) +
    b[s + 3];
  if (length > options.maxReceiveSize) {
    throw new LdapProtocolError(
      `Cannot read the SASL buffer as it is ${length} bytes long, more than the ${options.maxReceiveSize} bytes this client offered: server is ${options.label}`,
    );
  }
  return length;
}

/** `message` wrapped by `layer` in buffers of at most its `maxSendSize`, each framed with its length. */
export function* wrappedBuffers(
  layer: SecurityLayer,
  message: Uint8Array,
): Generator<Uint8Array> {
  const step = Math.max(1, layer.maxSendSize);
  for (let offset = 0; offset < message.length; offset += step) {
    const token = layer.wrap(message.subarray(offset, offset + step));
    const framed = new Uint8Array(4 + token.length);
    new DataView(framed.buffer).setUint32(0, token.length);
    framed.set(token, 4);
    yield framed;
  }
}
