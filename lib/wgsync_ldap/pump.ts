/**
 * Moves committed outbox events to the channel, in outbox order, and deletes
 * an outbox row only once its event was acknowledged. Acknowledgements are
 * deleted in small batches (a lost batch only means a re-send of the same
 * ids after a crash).
 *
 * The pump can be held (`hold`): the consumer holds it while a refresh is
 * applying entries, as both run on one thread and a first refresh of
 * 100,000 workgroups took 1.7 times the CPU with the pump sending its events
 * alongside. The held events are committed in the outbox all the same; the
 * pump sends them once the hold is released.
 *
 * @module
 */

import type { Store } from "./store/mod.ts";
import { sleep, unlessAborted } from "../async.ts";
import { optionChecks } from "../options.ts";
import { getLogger } from "../log/mod.ts";

const check = optionChecks("create the outbox pump");
const log = getLogger("ldap");
/** How often deleting acknowledged rows is tried again after a failure, in ms. */
const RETRY_MS = 1_000;

/** Where the pump submits events: the channel client, or anything alike. */
export interface EventSink {
  /** Resolves once the event was accepted into the sink's window. */
  submit(event: { id: string; workgroup: string; body: string }): Promise<void>;
}

/** Options of {@linkcode OutboxPump}. */
export interface OutboxPumpOptions {
  /** Rows read from the outbox at a time. Default 512. */
  readBatch?: number;
  /** Acknowledged rows deleted per batch at most. Default 512. */
  ackBatch?: number;
  /** Longest delay before acknowledged rows are deleted, in ms. Default 20. */
  ackDelayMs?: number;
  /**
   * While this returns true the pump submits nothing more (events already
   * submitted are still acknowledged); polled every `holdPollMs`.
   *
   * @default {() => false}
   */
  hold?: () => boolean;
  /** How often a held pump checks `hold` again, in ms. Default 20. */
  holdPollMs?: number;
}

/** Feeds the outbox to an {@linkcode EventSink}; wire the sink's acknowledgements to {@linkcode OutboxPump.ack}. */
export class OutboxPump {
  #store: Store;
  #sink: EventSink;
  #readBatch: number;
  #ackBatch: number;
  #ackDelayMs: number;
  #position = 0;
  #submitted = new Map<string, number[]>();
  #acked: number[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #hold: () => boolean;
  #holdPollMs: number;
  #failing = false;

  /** Validates the options up front. */
  constructor(store: Store, sink: EventSink, options: OutboxPumpOptions = {}) {
    this.#store = store;
    this.#sink = sink;
    this.#readBatch = check.positiveInteger(
      "readBatch",
      options.readBatch ?? 512,
    );
    this.#ackBatch = check.positiveInteger("ackBatch", options.ackBatch ?? 512);
    this.#ackDelayMs = check.positiveInteger(
      "ackDelayMs",
      options.ackDelayMs ?? 20,
    );
    this.#hold = options.hold ?? (() => false);
    this.#holdPollMs = check.positiveInteger(
      "holdPollMs",
      options.holdPollMs ?? 20,
    );
  }

  /** Events submitted and not yet acknowledged. */
  get pending(): number {
    return this.#submitted.size;
  }

  /** Records an acknowledgement from the sink: the event's outbox row(s) will be deleted. */
  ack(id: string): void {
    const positions = this.#submitted.get(id);
    if (positions === undefined) return;
    this.#submitted.delete(id);
    this.#acked.push(...positions);
    if (this.#acked.length >= this.#ackBatch) this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), this.#ackDelayMs);
    }
  }

  /** Deletes the acknowledged rows now. */
  flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#acked.length === 0 || this.#store.closed) return;
    const positions = this.#acked;
    this.#acked = [];
    try {
      this.#store.deleteOutbox(positions);
      this.#failing = false;
    } catch (error) {
      // The store cannot be written now (a full disk): the rows stay, and
      // are deleted by a later flush (or re-sent after a restart).
      this.#acked = positions.concat(this.#acked);
      if (!this.#failing) {
        this.#failing = true;
        log.warn(
          "Cannot delete acknowledged events from the outbox yet ({error}); retrying every {seconds} s",
          { error: (error as Error).message, seconds: RETRY_MS / 1000 },
        );
      }
      if (this.#timer === undefined) {
        this.#timer = setTimeout(() => this.flush(), RETRY_MS);
        Deno.unrefTimer(this.#timer);
      }
    }
  }

  /**
   * Submits committed outbox events in order until `signal` aborts, waiting
   * for new commits when the outbox is exhausted. Flushes acknowledgements on
   * the way out.
   */
  async run(signal: AbortSignal): Promise<void> {
    try {
      while (!signal.aborted && !this.#store.closed) {
        if (this.#hold()) {
          await sleep(this.#holdPollMs, { signal });
          continue;
        }
        const committed = this.#store.committed();
        const rows = this.#store.readOutbox(this.#position, this.#readBatch);
        if (rows.length === 0) {
          await unlessAborted(committed, signal);
          continue;
        }
        for (const row of rows) {
          if (signal.aborted) return;
          if (this.#hold()) break; // Read again from here once released.
          this.#position = row.position;
          const already = this.#submitted.get(row.id);
          if (already !== undefined) {
            // The same id twice in the outbox (a repeated snapshot): one send covers both rows.
            already.push(row.position);
            continue;
          }
          this.#submitted.set(row.id, [row.position]);
          await unlessAborted(
            this.#sink.submit({
              id: row.id,
              workgroup: row.workgroup,
              body: row.body,
            }),
            signal,
          );
        }
      }
    } finally {
      this.flush();
    }
  }
}
