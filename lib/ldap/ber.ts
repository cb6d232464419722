/**
 * A strict BER reader for messages from the server, on ldapts's `BerReader`.
 *
 * ldapts's reader returns `null` for truncated data and does not check that an
 * element fits inside the one containing it; a server's bytes are untrusted,
 * so every read here checks tag, length and bounds and throws
 * {@linkcode BerError} naming what was expected and where.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { BerReader } from "ldapts";

/** Malformed BER: names the element that was expected and the offset. */
export class BerError extends Error {
  /** Creates a BER error with an optional `cause`. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BerError";
  }
}

/** A value that is not valid UTF-8. */
export class Utf8Error extends BerError {
  /** Creates a UTF-8 error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "Utf8Error";
  }
}

const fatalDecoder = new TextDecoder("utf-8", { fatal: true });

/** Reads BER elements from one message, checking every tag, length and bound. */
export class BerInput {
  /** The ldapts reader; its offset is the position of the next element. */
  readonly reader: BerReader;
  #buffer: Buffer;
  /** The Latin-1 text of the SET OF strings being read (see utf8InSet). */
  #setText = "";
  #setStart = 0;
  #setEnd = -1;

  /** Reads `bytes` (kept as a view, not copied). */
  constructor(bytes: Uint8Array) {
    this.#buffer = Buffer.from(
      bytes.buffer,
      bytes.byteOffset,
      bytes.byteLength,
    );
    this.reader = new BerReader(this.#buffer);
  }

  /** Offset of the next element. */
  get offset(): number {
    return this.reader.offset;
  }

  /** Total length of the data. */
  get size(): number {
    return this.#buffer.length;
  }

  /** The tag of the next element, or undefined at `limit` (default: end of data). */
  peek(limit: number = this.#buffer.length): number | undefined {
    if (this.reader.offset >= limit) return undefined;
    return this.reader.peek() ?? undefined;
  }

  /** Enters a constructed element with `tag`; returns the offset where it ends. */
  enter(tag: number, what: string, limit?: number): number {
    return this.#header(tag, what, limit) + this.reader.length;
  }

  /** Enters a constructed element with `tag` that must span all the data; returns its end. */
  enterWhole(tag: number, what: string): number {
    const end = this.enter(tag, what);
    if (end !== this.#buffer.length) {
      throw new BerError(
        `${what} is followed by ${
          this.#buffer.length - end
        } unexpected bytes at offset ${end}`,
      );
    }
    return end;
  }

  /** Reads a primitive element with `tag` and returns a view of its content. */
  bytes(tag: number, what: string, limit?: number): Uint8Array {
    const start = this.#header(tag, what, limit);
    const end = start + this.reader.length;
    this.reader.offset = end;
    return this.#buffer.subarray(start, end);
  }

  /** Reads a primitive element with `tag` and returns a copy of its content. */
  copy(tag: number, what: string, limit?: number): Uint8Array {
    return new Uint8Array(this.bytes(tag, what, limit));
  }

  /** Reads a primitive element with `tag` as UTF-8 text (invalid UTF-8 throws {@linkcode Utf8Error}). */
  utf8(tag: number, what: string, limit?: number): string {
    const start = this.#header(tag, what, limit);
    const end = start + this.reader.length;
    this.reader.offset = end;
    return this.#text(start, end, what);
  }

  /**
   * Reads a string of a SET OF strings that ends at `setEnd`, as
   * {@linkcode BerInput.utf8}. An ASCII value is a slice of the set decoded
   * once (so it keeps the set's text alive, not the message's).
   */
  utf8InSet(tag: number, what: string, setEnd: number): string {
    const start = this.#header(tag, what, setEnd);
    const end = start + this.reader.length;
    this.reader.offset = end;
    const buffer = this.#buffer;
    for (let i = start; i < end; i++) {
      if (buffer[i] > 0x7f) return this.#text(start, end, what);
    }
    // ASCII is its own UTF-8, and Latin-1 gives one character per byte.
    if (this.#setEnd !== setEnd || start < this.#setStart) {
      this.#setStart = start;
      this.#setEnd = setEnd;
      this.#setText = buffer.toString("latin1", start, setEnd);
    }
    return this.#setText.slice(start - this.#setStart, end - this.#setStart);
  }

  #text(start: number, end: number, what: string): string {
    const text = this.#buffer.toString("utf8", start, end);
    // toString replaces invalid sequences with U+FFFD; only then pay for the strict decoder.
    if (!text.includes("\uFFFD")) return text;
    try {
      return fatalDecoder.decode(this.#buffer.subarray(start, end));
    } catch (error) {
      throw new Utf8Error(
        `${what} is not valid UTF-8 (bytes ${
          preview(this.#buffer.subarray(start, end))
        } at offset ${start})`,
        { cause: error },
      );
    }
  }

  /** Reads an INTEGER or ENUMERATED (by `tag`) that fits in 32 bits. */
  integer(tag: number, what: string, limit?: number): number {
    const start = this.#header(tag, what, limit);
    const length = this.reader.length;
    if (length < 1 || length > 4) {
      throw new BerError(
        `${what} is an integer of ${length} bytes (expected 1 to 4) at offset ${start}`,
      );
    }
    let value = this.#buffer[start] & 0x80 ? -1 : 0;
    for (let i = 0; i < length; i++) {
      value = (value << 8) | this.#buffer[start + i];
    }
    this.reader.offset = start + length;
    return value;
  }

  /** Reads a BOOLEAN with `tag` (default universal 0x01). */
  boolean(what: string, limit?: number, tag = 0x01): boolean {
    const start = this.#header(tag, what, limit);
    if (this.reader.length !== 1) {
      throw new BerError(
        `${what} is a BOOLEAN of ${this.reader.length} bytes (expected 1) at offset ${start}`,
      );
    }
    this.reader.offset = start + 1;
    return this.#buffer[start] !== 0;
  }

  /** Skips the next element, whatever its tag. */
  skip(what: string, limit?: number): void {
    const tag = this.peek(limit);
    if (tag === undefined) {
      throw new BerError(
        `expected ${what} but the data ended at offset ${this.offset}`,
      );
    }
    const start = this.#header(tag, what, limit);
    this.reader.offset = start + this.reader.length;
  }

  /** Throws unless the reader is exactly at `end` (the end of the enclosing element). */
  expectEnd(end: number, what: string): void {
    if (this.reader.offset !== end) {
      throw new BerError(
        `${what} has ${
          end - this.reader.offset
        } unexpected bytes at offset ${this.reader.offset}`,
      );
    }
  }

  /** Checks the tag, reads the length, checks bounds; returns the content offset. */
  #header(tag: number, what: string, limit = this.#buffer.length): number {
    const reader = this.reader;
    const offset = reader.offset;
    const actual = offset < limit ? reader.peek() : null;
    if (actual === null) {
      throw new BerError(
        `expected ${what} (tag 0x${
          hex(tag)
        }) but the data ended at offset ${offset}`,
      );
    }
    if (actual !== tag) {
      throw new BerError(
        `expected ${what} (tag 0x${hex(tag)}) but got tag 0x${
          hex(actual)
        } at offset ${offset}`,
      );
    }
    let start: number | null;
    try {
      start = reader.readLength(offset + 1);
    } catch (error) {
      throw new BerError(
        `the length of ${what} at offset ${offset} is invalid`,
        {
          cause: error,
        },
      );
    }
    if (start === null || reader.length < 0 || start + reader.length > limit) {
      throw new BerError(
        `${what} at offset ${offset} is longer than the data that contains it`,
      );
    }
    reader.offset = start;
    return start;
  }
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}

/** Hex of the first bytes of `bytes`, for error messages. */
export function preview(bytes: Uint8Array, max = 24): string {
  const shown = Array.from(bytes.subarray(0, max), hex).join(" ");
  return bytes.length > max ? `${shown} ...` : shown;
}
