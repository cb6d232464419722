/**
 * Framing of LDAP messages: each is one BER SEQUENCE with a definite length
 * (RFC 4511 section 5.1), read from the start of the connection's buffer and
 * refused past the size limit.
 *
 * @module
 */

import { LdapProtocolError } from "./errors.ts";
import type { ReadBuffer } from "./read_buffer.ts";

/** Options of {@linkcode messageSize}. */
export interface MessageSizeOptions {
  /** Largest LDAP message accepted, in bytes. */
  maxPduSize: number;
  /** The server, as `scheme://host:port`, for messages. */
  label: string;
}

/** Total length of the message at the start of the buffer, or -1 when its header is incomplete. */
export function messageSize(
  buffer: ReadBuffer,
  options: MessageSizeOptions,
): number {
  const bytes = buffer.bytes;
  const start = buffer.start;
  const tag = bytes[start];
  if (tag !== 0x30) {
    throw new LdapProtocolError(
      `Cannot read the LDAP message as it does not start with a SEQUENCE (tag 0x30) but with tag 0x${
        hex(tag)
      }: server is ${options.label}`,
    );
  }
  const first = bytes[start + 1];
  if (first < 0x80) return 2 + first;
  const count = first & 0x7f;
  if (count === 0 || count > 4) {
    throw new LdapProtocolError(
      `Cannot read the LDAP message as its length uses ${
        count === 0 ? "the indefinite form" : `${count} length bytes`
      } (RFC 4511 allows the definite form with at most 4): server is ${options.label}`,
    );
  }
  if (buffer.size < 2 + count) return -1;
  let length = 0;
  for (let i = 0; i < count; i++) {
    length = length * 256 + bytes[start + 2 + i];
  }
  const total = 2 + count + length;
  if (total > options.maxPduSize) {
    throw new LdapProtocolError(
      `Cannot read the LDAP message as it is ${total} bytes long, more than the limit of ${options.maxPduSize} bytes (option maxPduSize): server is ${options.label}`,
    );
  }
  return total;
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}
