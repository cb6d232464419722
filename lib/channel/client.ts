/**
 * The LDAP Consumer's end of the channel: N authenticated connections; the
 * events of one stem always travel on the same connection (FNV-1a hash of
 * the workgroup's stem modulo N), in order — so events that can address the
 * same name (a rename, a name re-used after a deletion: always within one
 * stem) reach the server in the order they were submitted. Each connection keeps a bounded
 * window of events sent but not acknowledged; after a reconnect (with
 * backoff) it re-sends them, same ids, in the original order.
 *
 * @module
 */

import {
  type BackoffOptions,
  resolveBackoff,
  type ResolvedBackoff,
} from "../backoff.ts";
import { type ChannelAddress, validateAddress } from "./address.ts";
import { AuthKey } from "./auth.ts";
import {
  ChannelClientError,
  type OutgoingEvent,
  Slot,
  type SlotSettings,
} from "./client_slot.ts";
import {
  DEFAULT_CONNECTIONS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_WINDOW,
  MIN_FRAME_BYTES,
} from "./defaults.ts";
import { optionChecks } from "../options.ts";
import { workgroupStem } from "../events/mod.ts";

export { ChannelClientError, type OutgoingEvent } from "./client_slot.ts";

/** Options of {@linkcode ChannelClient.open}. */
export interface ChannelClientOptions {
  address: ChannelAddress;
  /** The shared auth key file (mode 0600 or tighter). */
  keyFile: string;
  /**
   * Connections to keep.
   * @default {DEFAULT_CONNECTIONS} (4)
   */
  connections?: number;
  /**
   * Events in flight (sent, not acknowledged) per connection.
   * @default {DEFAULT_WINDOW} (256)
   */
  window?: number;
  /** Called once per acknowledged event id. */
  onAck?: (id: string) => void;
  /**
   * The largest frame accepted from the server, and the most this side
   * sends in one (events of any size travel, in several frames). At least
   * {@linkcode MIN_FRAME_BYTES}.
   * @default {DEFAULT_MAX_FRAME_BYTES} (1 MiB)
   */
  maxFrameBytes?: number;
  /** Time allowed for connect and handshake, in ms. Default 5000. */
  handshakeTimeoutMs?: number;
  /** Reconnect backoff. Default: 100 ms doubling up to 10 s, half of each delay random, forever. */
  reconnect?: BackoffOptions;
}

/** The channel's reconnect defaults: a local peer comes back quickly. */
const CHANNEL_BACKOFF: ResolvedBackoff = {
  minDelay: 100,
  maxDelay: 10_000,
  multiplier: 2,
  jitter: 0.5,
  maxAttempts: Infinity,
};

const check = optionChecks("open the channel client");

/** FNV-1a (32-bit) over the UTF-16 code units of a string. */
export function workgroupHash(workgroup: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < workgroup.length; i++) {
    hash ^= workgroup.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** The sending end of the channel. */
export class ChannelClient {
  #slots: Slot[];
  #abort: AbortController;
  #closed = false;

  private constructor(slots: Slot[], abort: AbortController) {
    this.#slots = slots;
    this.#abort = abort;
  }

  /**
   * Validates the options, loads the key (refusing a key file open to
   * others) and starts connecting; events may be submitted at once.
   */
  static async open(options: ChannelClientOptions): Promise<ChannelClient> {
    const address = validateAddress(options.address);
    const connections = check.positiveInteger(
      "connections",
      options.connections ?? DEFAULT_CONNECTIONS,
    );
    const abort = new AbortController();
    const settings: SlotSettings = {
      address,
      key: await AuthKey.load(options.keyFile),
      window: check.positiveInteger("window", options.window ?? DEFAULT_WINDOW),
      onAck: options.onAck ?? (() => {}),
      maxFrameBytes: check.numberInRange(
        "maxFrameBytes",
        options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
        { min: MIN_FRAME_BYTES, integer: true },
      ),
      handshakeTimeoutMs: check.positiveInteger(
        "handshakeTimeoutMs",
        options.handshakeTimeoutMs ?? 5000,
      ),
      backoff: resolveBackoff(options.reconnect, CHANNEL_BACKOFF),
      signal: abort.signal,
    };
    const slots = Array.from(
      { length: connections },
      (_, i) => new Slot(settings, i + 1),
    );
    return new ChannelClient(slots, abort);
  }

  /** The connection (0 … N-1) that carries a workgroup's events: its stem's (a name without one: its own). */
  connectionOf(workgroup: string): number {
    return workgroupHash(workgroupStem(workgroup) ?? workgroup) %
      this.#slots.length;
  }

  /**
   * Queues an event on its stem's connection; resolves once it is in the
   * window (sent, or waiting for the connection to come up). Waits while the
   * window is full. An id already in flight is not queued twice.
   */
  submit(event: OutgoingEvent): Promise<void> {
    if (this.#closed) {
      return Promise.reject(
        new ChannelClientError(
          "Cannot submit the event as the channel client is closed",
        ),
      );
    }
    return this.#slots[this.connectionOf(event.workgroup)].submit(event);
  }

  /** The number of connections that are up (authenticated). */
  get connected(): number {
    return this.#slots.filter((slot) => slot.up).length;
  }

  /** The number of events sent or queued but not acknowledged. */
  get inFlight(): number {
    return this.#slots.reduce((sum, slot) => sum + slot.inFlight, 0);
  }

  /** Resolves when every connection is up (or the client is closed). */
  async waitConnected(): Promise<void> {
    await Promise.all(this.#slots.map((slot) => slot.waitUp()));
  }

  /** Resolves when no event is in flight (or the client is closed). */
  async drained(): Promise<void> {
    await Promise.all(this.#slots.map((slot) => slot.waitDrained()));
  }

  /** Closes every connection; events not acknowledged are forgotten (the outbox still has them). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    for (const slot of this.#slots) slot.wakeAll();
    await Promise.all(this.#slots.map((slot) => slot.loop));
  }
}
