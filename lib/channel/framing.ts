/**
 * Length-prefixed frames: a 4-byte big-endian payload length, then the
 * payload. A frame longer than the reader's limit is refused before any of it
 * is buffered.
 *
 * @module
 */

import { setImmediate } from "node:timers";

/** Raised for a frame that breaks the framing rules. */
export class FrameError extends Error {
  /** Constructs a FrameError. */
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

const encoder = new TextEncoder();

/**
 * Encodes one frame around a payload (a string is encoded as UTF-8). An
 * ASCII string (JSON of ASCII data) is encoded straight into the frame: one
 * buffer, no copy.
 */
export function encodeFrame(payload: string | Uint8Array): Uint8Array {
  if (typeof payload === "string") {
    const frame = new Uint8Array(4 + payload.length);
    // All of it fits in as many bytes as code units only if all is ASCII.
    const { read } = encoder.encodeInto(payload, frame.subarray(4));
    if (read === payload.length) {
      new DataView(frame.buffer).setUint32(0, payload.length);
      return frame;
    }
  }
  const bytes = typeof payload === "string" ? encoder.encode(payload) : payload;
  const frame = new Uint8Array(4 + bytes.length);
  new DataView(frame.buffer).setUint32(0, bytes.length);
  frame.set(bytes, 4);
  return frame;
}

/** Something frames can be read from, such as a `Deno.Conn`. */
export interface ByteSource {
  read(buffer: Uint8Array): Promise<number | null>;
}

/** Something frames can be written to, such as a `Deno.Conn`. */
export interface ByteSink {
  write(buffer: Uint8Array): Promise<number>;
  /**
   * Writes all of `chunks` (`bytes` in total) in order, as one write of
   * their concatenation would: a sink that copies anyway (the record layer)
   * copies from the chunks, without a concatenated copy first.
   */
  writeChunks?(chunks: readonly Uint8Array[], bytes: number): Promise<void>;
}

/** Reads frames from a byte stream. */
export class FrameReader {
  #source: ByteSource;
  #buffer = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;
  #maxBytes: number;
  #kind: string;
  #limit: string | undefined;

  /**
   * Reads from `source`, refusing payloads above `maxBytes`. `kind` names
   * what is read in errors (default "frame"); `limit` names the setting
   * behind `maxBytes` (e.g. "channel.max_frame_bytes").
   */
  constructor(
    source: ByteSource,
    options: { maxBytes: number; kind?: string; limit?: string },
  ) {
    this.#source = source;
    this.#maxBytes = options.maxBytes;
    this.#kind = options.kind ?? "frame";
    this.#limit = options.limit;
  }

  /** The largest payload accepted (may be raised once the peer is authenticated). */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  set maxBytes(value: number) {
    this.#maxBytes = value;
  }

  /** The name of the setting behind the limit, for errors. */
  set limit(value: string) {
    this.#limit = value;
  }

  /**
   * Reads the next frame's payload; null when the stream ended between
   * frames. Throws {@linkcode FrameError} for an oversized frame or a stream
   * that ends inside a frame.
   */
  async read(): Promise<Uint8Array | null> {
    while (true) {
      const available = this.#end - this.#start;
      if (available >= 4) {
        const length = new DataView(
          this.#buffer.buffer,
          this.#buffer.byteOffset + this.#start,
          4,
        ).getUint32(0);
        if (length > this.#maxBytes) {
          throw new FrameError(
            `${this.#kind} of ${length} bytes exceeds the limit of ${this.#maxBytes} bytes${
              this.#limit === undefined ? "" : ` (${this.#limit})`
            }`,
          );
        }
        if (available >= 4 + length) {
          const payload = this.#buffer.slice(
            this.#start + 4,
            this.#start + 4 + length,
          );
          this.#start += 4 + length;
          if (this.#start === this.#end) this.#start = this.#end = 0;
          return payload;
        }
        this.#reserve(4 + length);
      } else {
        this.#reserve(4);
      }
      const n = await this.#source.read(this.#buffer.subarray(this.#end));
      if (n === null) {
        if (this.#end === this.#start) return null;
        throw new FrameError(
          `the stream ended inside a ${this.#kind} (${
            this.#end - this.#start
          } bytes of it received)`,
        );
      }
      this.#end += n;
    }
  }

  /** Makes room for `need` bytes from #start, plus some read-ahead. */
  #reserve(need: number): void {
    const wanted = need + 16 * 1024;
    if (this.#start + wanted <= this.#buffer.length) return;
    if (wanted <= this.#buffer.length) {
      this.#buffer.copyWithin(0, this.#start, this.#end);
    } else {
      const bigger = new Uint8Array(Math.max(wanted, this.#buffer.length * 2));
      bigger.set(this.#buffer.subarray(this.#start, this.#end));
      this.#buffer = bigger;
    }
    this.#end -= this.#start;
    this.#start = 0;
  }
}

/**
 * Writes frames in order; frames queued while a write is in progress go out
 * together in the next write.
 */
export class FrameWriter {
  #sink: ByteSink;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #waiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  #writing = false;
  #error: unknown;
  #cork: boolean;

  /**
   * Writes to `sink`. With `cork`, a frame written while the sink is idle
   * waits for the end of the current task too, so that a burst of frames
   * goes to the sink in one write (one record, one MAC, when the sink seals).
   * @default {cork: false}
   */
  constructor(sink: ByteSink, options: { cork?: boolean } = {}) {
    this.#sink = sink;
    this.#cork = options.cork ?? false;
  }

  /** Queues an encoded frame; resolves once it was written, rejects when the sink failed. */
  write(frame: Uint8Array): Promise<void> {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#queue.push(frame);
      this.#queuedBytes += frame.length;
      this.#waiters.push({ resolve, reject });
      if (this.#writing) return;
      this.#writing = true;
      // setImmediate, not setTimeout(0): that waits for the timer tick (ms).
      if (this.#cork) setImmediate(() => this.#flush());
      else this.#flush();
    });
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const frames = this.#queue;
        const waiters = this.#waiters;
        const total = this.#queuedBytes;
        this.#queue = [];
        this.#waiters = [];
        this.#queuedBytes = 0;
        try {
          if (this.#sink.writeChunks !== undefined) {
            await this.#sink.writeChunks(frames, total);
          } else {
            const bytes = concat(frames, total);
            let written = 0;
            while (written < bytes.length) {
              written += await this.#sink.write(bytes.subarray(written));
            }
          }
        } catch (error) {
          this.#error = error;
          for (const waiter of [...waiters, ...this.#waiters]) {
            waiter.reject(error);
          }
          this.#queue = [];
          this.#waiters = [];
          return;
        }
        for (const waiter of waiters) waiter.resolve();
      }
    } finally {
      this.#writing = false;
    }
  }
}

/** The chunks (`bytes` in total) as one buffer (the chunk itself when alone). */
function concat(chunks: readonly Uint8Array[], bytes: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const joined = new Uint8Array(bytes);
  let offset = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.length;
  }
  return joined;
}
