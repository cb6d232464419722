/**
 * Reads remctl tokens (1 flag octet + 4-octet big-endian length + payload)
 * from a connection through one growing buffer.
 *
 * @module
 */

import { TOKEN_MAX_LENGTH } from "./protocol.ts";

/** One token as read. */
export interface Token {
  flags: number;
  payload: Uint8Array;
}

/** Buffered token reader over a `Deno.Reader`-like connection. */
export class TokenReader {
  #conn: { read(buffer: Uint8Array): Promise<number | null> };
  #buffer = new Uint8Array(16 * 1024);
  #start = 0;
  #end = 0;

  /** Reads from `conn`. */
  constructor(conn: { read(buffer: Uint8Array): Promise<number | null> }) {
    this.#conn = conn;
  }

  /** The next token; throws when the peer closed or sent an oversized token. */
  async read(): Promise<Token> {
    await this.#fill(5);
    const view = new DataView(this.#buffer.buffer, this.#start, 5);
    const flags = view.getUint8(0);
    const length = view.getUint32(1);
    if (length + 5 > TOKEN_MAX_LENGTH) {
      throw new RangeError(
        `Cannot read a remctl token of ${length} bytes: the protocol allows at most ${
          TOKEN_MAX_LENGTH - 5
        }`,
      );
    }
    await this.#fill(5 + length);
    const payload = this.#buffer.slice(
      this.#start + 5,
      this.#start + 5 + length,
    );
    this.#start += 5 + length;
    return { flags, payload };
  }

  async #fill(size: number): Promise<void> {
    while (this.#end - this.#start < size) {
      if (this.#buffer.byteLength - this.#start < size) {
        const grown = new Uint8Array(
          Math.max(size, this.#buffer.byteLength * 2),
        );
        grown.set(this.#buffer.subarray(this.#start, this.#end));
        this.#end -= this.#start;
        this.#start = 0;
        this.#buffer = grown;
      } else if (this.#start === this.#end) {
        this.#start = this.#end = 0;
      }
      if (this.#end === this.#buffer.byteLength) {
        this.#buffer.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      const n = await this.#conn.read(this.#buffer.subarray(this.#end));
      if (n === null) {
        throw new Deno.errors.UnexpectedEof(
          "the server closed the connection",
        );
      }
      this.#end += n;
    }
  }
}
