/**
 * Operator mode (`--stdout`): instead of the channel, each event is written
 * as one JSON line to a writer (standard output) and counts as acknowledged
 * once written, so its outbox row is deleted as after a channel ack.
 *
 * @module
 */

import type { EventSink } from "./pump.ts";

/** Options of {@linkcode StdoutSink}. */
export interface StdoutSinkOptions {
  /** Where the lines go. Default: `Deno.stdout`. */
  writer?: { write(bytes: Uint8Array): Promise<number> };
  /** Called with the id of every event written. */
  onAck: (id: string) => void;
}

/** An {@linkcode EventSink} writing one JSON line per event. */
export class StdoutSink implements EventSink {
  #writer: { write(bytes: Uint8Array): Promise<number> };
  #onAck: (id: string) => void;
  #encoder = new TextEncoder();

  /** Writes to `options.writer` (default standard output). */
  constructor(options: StdoutSinkOptions) {
    this.#writer = options.writer ?? Deno.stdout;
    this.#onAck = options.onAck;
  }

  /** Writes the event's JSON (already one line) and a newline, then acknowledges it. */
  async submit(
    event: { id: string; workgroup: string; body: string },
  ): Promise<void> {
    let bytes = this.#encoder.encode(`${event.body}\n`);
    while (bytes.length > 0) {
      const written = await this.#writer.write(bytes);
      bytes = bytes.subarray(written);
    }
    this.#onAck(event.id);
  }
}
