/**
 * The growable read buffer of an LDAP connection: bytes read from the socket
 * wait here until a whole message (or SASL buffer) is in, are handed out as
 * views, and the buffer shrinks back after a very large message.
 *
 * @module
 */

const MIN_READ = 64 * 1024;
const INITIAL_CAPACITY = 256 * 1024;
const SHRINK_ABOVE = 4 * 1024 * 1024;

/** A growable read buffer holding the bytes between `start` and `end`. */
export class ReadBuffer {
  bytes = new Uint8Array(INITIAL_CAPACITY);
  start = 0;
  end = 0;

  get size(): number {
    return this.end - this.start;
  }

  /** Makes room for `total` bytes from `start` and at least MIN_READ free bytes after `end`. */
  reserve(total: number): void {
    const live = this.size;
    if (
      this.start + total <= this.bytes.length &&
      this.bytes.length - this.end >= MIN_READ
    ) {
      return;
    }
    const capacity = Math.max(total, live) + MIN_READ;
    if (
      capacity > this.bytes.length ||
      (live === 0 && this.bytes.length > SHRINK_ABOVE)
    ) {
      const bytes = new Uint8Array(Math.max(capacity, INITIAL_CAPACITY));
      bytes.set(this.bytes.subarray(this.start, this.end));
      this.bytes = bytes;
    } else {
      this.bytes.copyWithin(0, this.start, this.end);
    }
    this.start = 0;
    this.end = live;
  }

  /** Returns a view of the next `length` bytes and consumes them. */
  take(length: number): Uint8Array {
    const view = this.bytes.subarray(this.start, this.start + length);
    this.start += length;
    if (this.start === this.end) {
      this.start = 0;
      this.end = 0;
    }
    return view;
  }

  append(chunk: Uint8Array): void {
    this.reserve(this.size + chunk.length);
    this.bytes.set(chunk, this.end);
    this.end += chunk.length;
  }
}
