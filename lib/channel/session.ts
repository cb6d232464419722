/**
 * The authenticated record layer: once the handshake derived a key per
 * direction, every frame on the wire is a record carrying a sequence number
 * and a MAC (see protocol.ts for the layout). {@linkcode SealingSink} turns
 * the bytes it is given into records; {@linkcode OpeningSource} checks each
 * record's MAC and sequence number and hands out the bytes. Messages are
 * length-prefixed frames in that byte stream, so a message may span records.
 *
 * Hand-written because TLS (`Deno.startTls`) needs certificates we do not
 * have between two local processes sharing a key, and no library offers a
 * pre-shared-key record layer for Deno; the primitives are node:crypto's
 * HMAC-SHA256 (synchronous, so records are sealed in write order).
 *
 * @module
 */

import { createHmac, timingSafeEqual } from "node:crypto";
import type { HandshakeResult } from "./auth.ts";
import {
  type ByteSink,
  type ByteSource,
  FrameReader,
  FrameWriter,
} from "./framing.ts";
import { ProtocolError } from "./protocol.ts";

/** Bytes of the sequence number at the start of a record. */
export const SEQUENCE_BYTES = 8;
/** Bytes of the (truncated) MAC at the end of a record. */
export const MAC_BYTES = 16;
/** What a record adds to its data, inside the frame. */
export const RECORD_OVERHEAD = SEQUENCE_BYTES + MAC_BYTES;

const TWO_32 = 2 ** 32;

/** HMAC-SHA256 under a record key, truncated to {@linkcode MAC_BYTES}. */
class Mac {
  #key: Uint8Array;

  constructor(key: Uint8Array) {
    this.#key = key;
  }

  of(signed: Uint8Array): Uint8Array {
    return createHmac("sha256", this.#key).update(signed).digest().subarray(
      0,
      MAC_BYTES,
    );
  }
}

/** Seals bytes into records and writes them to a sink, in order. */
export class SealingSink implements ByteSink {
  #sink: ByteSink;
  #mac: Mac;
  #sequence = 0;
  #maxData: number;

  /**
   * Writes to `sink` under `key`, each record's frame at most
   * `maxFrameBytes` (the peer's limit) long after the length prefix.
   */
  constructor(
    sink: ByteSink,
    key: Uint8Array,
    options: { maxFrameBytes: number },
  ) {
    if (options.maxFrameBytes <= RECORD_OVERHEAD) {
      throw new RangeError(
        `Cannot seal records as maxFrameBytes is too small: maxFrameBytes is ${options.maxFrameBytes}, expected more than ${RECORD_OVERHEAD}`,
      );
    }
    this.#sink = sink;
    this.#mac = new Mac(key);
    this.#maxData = options.maxFrameBytes - RECORD_OVERHEAD;
  }

  /** Seals `bytes` into as many records as it takes; resolves once all were written. */
  async write(bytes: Uint8Array): Promise<number> {
    await this.writeChunks([bytes], bytes.length);
    return bytes.length;
  }

  /**
   * Seals the concatenation of `chunks` (`bytes` in total) into as many
   * records as it takes, copying each chunk once, straight into its
   * record(s); resolves once all were written.
   */
  async writeChunks(
    chunks: readonly Uint8Array[],
    bytes: number,
  ): Promise<void> {
    let chunk = 0;
    let within = 0; // Bytes of chunks[chunk] already sealed.
    let left = bytes;
    do {
      const size = Math.min(left, this.#maxData);
      left -= size;
      const frame = new Uint8Array(4 + RECORD_OVERHEAD + size);
      const view = new DataView(frame.buffer);
      view.setUint32(0, RECORD_OVERHEAD + size);
      view.setUint32(4, Math.floor(this.#sequence / TWO_32));
      view.setUint32(8, this.#sequence % TWO_32);
      this.#sequence++;
      let at = 4 + SEQUENCE_BYTES;
      const end = at + size;
      while (at < end) {
        const source = chunks[chunk];
        const n = Math.min(source.length - within, end - at);
        frame.set(source.subarray(within, within + n), at);
        at += n;
        within += n;
        if (within === source.length) {
          chunk++;
          within = 0;
        }
      }
      frame.set(this.#mac.of(frame.subarray(4, end)), end);
      let written = 0;
      while (written < frame.length) {
        written += await this.#sink.write(frame.subarray(written));
      }
    } while (left > 0);
  }
}

/** Reads records from a frame reader, verifies them and hands out their bytes. */
export class OpeningSource implements ByteSource {
  #frames: FrameReader;
  #mac: Mac;
  #expected = 0;
  #pending: Uint8Array = new Uint8Array(0);
  #initial: Uint8Array | undefined;
  #from: string;

  /**
   * Reads records from `frames` under `key`. `initial` is a record already
   * read (the first after the handshake); `from` names the peer in errors
   * ("the server", "the client").
   */
  constructor(
    frames: FrameReader,
    key: Uint8Array,
    options: { from: string; initial?: Uint8Array },
  ) {
    this.#frames = frames;
    this.#mac = new Mac(key);
    this.#from = options.from;
    this.#initial = options.initial;
  }

  /** Copies verified bytes into `buffer`; null at the end of the stream (between records). */
  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#pending.length === 0) {
      let record = this.#initial;
      this.#initial = undefined;
      record ??= await this.#frames.read() ?? undefined;
      if (record === undefined) return null;
      this.#pending = this.#open(record);
    }
    const n = Math.min(buffer.length, this.#pending.length);
    buffer.set(this.#pending.subarray(0, n));
    this.#pending = this.#pending.subarray(n);
    return n;
  }

  #open(record: Uint8Array): Uint8Array {
    const expected = this.#expected;
    if (record.length < RECORD_OVERHEAD) {
      throw new ProtocolError(
        `record ${expected} from ${this.#from} is ${record.length} bytes, shorter than its sequence number and MAC (${RECORD_OVERHEAD} bytes)`,
      );
    }
    const end = record.length - MAC_BYTES;
    const good = this.#mac.of(record.subarray(0, end));
    if (!timingSafeEqual(good, record.subarray(end))) {
      throw new ProtocolError(
        `record ${expected} from ${this.#from} (${record.length} bytes) failed MAC verification: it was not sealed by the authenticated peer of this connection (altered, forged or from another connection)`,
      );
    }
    const view = new DataView(record.buffer, record.byteOffset, 8);
    const sequence = view.getUint32(0) * TWO_32 + view.getUint32(4);
    if (sequence !== expected) {
      throw new ProtocolError(
        sequence < expected
          ? `record ${sequence} from ${this.#from} arrived again where record ${expected} was expected (replayed)`
          : `record ${sequence} from ${this.#from} arrived where record ${expected} was expected (${
            sequence - expected
          } missing: dropped on the way)`,
      );
    }
    this.#expected++;
    return record.subarray(SEQUENCE_BYTES, end);
  }
}

/** A connection's message streams on top of the record layer. */
export interface MessageStreams {
  /** Messages from the peer (verified, reassembled). */
  reader: FrameReader;
  /** Messages to the peer (sealed, split at the peer's frame limit). */
  writer: FrameWriter;
}

/** Options of {@linkcode openMessages}. */
export interface OpenMessagesOptions {
  /** The peer in errors ("the server", "the client"). */
  from: string;
  /** This side's frame limit (`channel.max_frame_bytes`). */
  maxFrameBytes: number;
  /** The largest message accepted from the peer. */
  maxMessageBytes: number;
  /** What a message is called in errors (default "message") and the setting behind its limit. */
  kind?: string;
  limit?: string;
  /** A record already read (the client's `ready`). */
  initial?: Uint8Array;
}

/**
 * Switches a connection whose handshake is done to records: `frames` (the
 * reader the handshake used, so no read-ahead is lost) now reads records of
 * at most `maxFrameBytes`.
 */
export function openMessages(
  conn: ByteSink,
  frames: FrameReader,
  handshake: HandshakeResult,
  options: OpenMessagesOptions,
): MessageStreams {
  frames.maxBytes = options.maxFrameBytes;
  frames.limit = "channel.max_frame_bytes";
  const source = new OpeningSource(frames, handshake.receiveKey, {
    from: options.from,
    initial: options.initial,
  });
  const sink = new SealingSink(conn, handshake.sendKey, {
    maxFrameBytes: Math.min(options.maxFrameBytes, handshake.peerMaxFrameBytes),
  });
  return {
    reader: new FrameReader(source, {
      maxBytes: options.maxMessageBytes,
      kind: options.kind ?? "message",
      limit: options.limit,
    }),
    writer: new FrameWriter(sink, { cork: true }),
  };
}
