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

import { getLogger } from "../log/mod.ts";
import {
  backoffDelay,
  type BackoffOptions,
  resolveBackoff,
  type ResolvedBackoff,
} from "../backoff.ts";
import {
  type ChannelAddress,
  connect,
  describeAddress,
  validateAddress,
} from "./address.ts";
import { AuthKey, clientHandshake } from "./auth.ts";
import {
  DEFAULT_CONNECTIONS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_WINDOW,
  MIN_FRAME_BYTES,
} from "./defaults.ts";
import { encodeFrame, FrameReader, FrameWriter } from "./framing.ts";
import { decodeMessage, eventText } from "./protocol.ts";
import { sleep } from "../async.ts";
import { optionChecks } from "../options.ts";
import { workgroupStem } from "../events/mod.ts";
import { openMessages } from "./session.ts";

/** An event to send. */
export interface OutgoingEvent {
  id: string;
  workgroup: string;
  /** The event as JSON text. */
  body: string;
}

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

/** Raised for invalid client options or a use after close. */
export class ChannelClientError extends Error {
  /** Constructs a ChannelClientError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ChannelClientError";
  }
}

const check = optionChecks("open the channel client");
const logger = getLogger(["lib", "channel"]);

/** FNV-1a (32-bit) over the UTF-16 code units of a string. */
export function workgroupHash(workgroup: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < workgroup.length; i++) {
    hash ^= workgroup.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

interface Settings {
  address: ChannelAddress;
  key: AuthKey;
  window: number;
  onAck: (id: string) => void;
  maxFrameBytes: number;
  handshakeTimeoutMs: number;
  backoff: ResolvedBackoff;
  signal: AbortSignal;
}

/** One connection slot: its in-flight window and its reconnect loop. */
class Slot {
  #settings: Settings;
  #number: number;
  #inFlight = new Map<string, Uint8Array>();
  #roomWaiters: (() => void)[] = [];
  #upWaiters: (() => void)[] = [];
  #drainWaiters: (() => void)[] = [];
  #writer: FrameWriter | undefined;
  /** The largest event the server accepts (announced in the handshake). */
  #maxEventBytes = Infinity;
  /** Closes the current session's connection (never throws). */
  #hangUp: () => void = () => {};
  #up = false;
  #loop: Promise<void>;

  constructor(settings: Settings, number: number) {
    this.#settings = settings;
    this.#number = number;
    this.#loop = this.#run();
  }

  get up(): boolean {
    return this.#up;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  get loop(): Promise<void> {
    return this.#loop;
  }

  async submit(event: OutgoingEvent): Promise<void> {
    if (this.#inFlight.has(event.id)) return;
    while (this.#inFlight.size >= this.#settings.window) {
      if (this.#settings.signal.aborted) {
        throw new ChannelClientError(
          "Cannot submit the event as the channel client is closed",
        );
      }
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
    }
    if (this.#settings.signal.aborted) {
      throw new ChannelClientError(
        "Cannot submit the event as the channel client is closed",
      );
    }
    if (this.#inFlight.has(event.id)) return;
    // One buffer per event (encoded into the frame), kept until acknowledged.
    const frame = encodeFrame(
      eventText(event.id, event.workgroup, event.body),
    );
    this.#inFlight.set(event.id, frame);
    if (this.#up) this.#send(event.id, frame);
  }

  waitUp(): Promise<void> {
    return this.#up
      ? Promise.resolve()
      : new Promise((resolve) => this.#upWaiters.push(resolve));
  }

  waitDrained(): Promise<void> {
    return this.#inFlight.size === 0
      ? Promise.resolve()
      : new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  wakeAll(): void {
    for (
      const list of [this.#roomWaiters, this.#upWaiters, this.#drainWaiters]
    ) {
      for (const wake of list.splice(0)) wake();
    }
    this.#hangUp();
  }

  #send(id: string, frame: Uint8Array): void {
    if (this.#writer === undefined) return;
    if (frame.length - 4 > this.#maxEventBytes) {
      // Held, not lost and not skipped: this session sends nothing more (so
      // later events cannot overtake it) but still takes the
      // acknowledgements of what it sent before.
      this.#writer = undefined;
      logger.error(
        "Channel {connection} holds event {eventId} of {bytes} bytes as the server accepts at most {limit} bytes (channel.max_event_bytes); it and the events after it on this connection wait until the limit is raised on both ends",
        {
          connection: this.#describe(),
          eventId: id,
          bytes: frame.length - 4,
          limit: this.#maxEventBytes,
        },
      );
      return;
    }
    const hangUp = this.#hangUp;
    // A failed write breaks this session's connection (and only this one's,
    // even if the failure is reported after a reconnect); the read loop
    // notices and reconnects. The connection may already be closed.
    this.#writer.write(frame).catch(hangUp);
  }

  #describe(): string {
    return `connection ${this.#number} to ${
      describeAddress(this.#settings.address)
    }`;
  }

  async #run(): Promise<void> {
    const { signal } = this.#settings;
    let attempt = 0;
    while (!signal.aborted) {
      let reason: string | undefined;
      try {
        await this.#session(() => {
          attempt = 0;
        });
        if (!signal.aborted) reason = "the server closed the connection";
      } catch (error) {
        if (!signal.aborted) {
          reason = error instanceof Error ? error.message : String(error);
        }
      }
      if (signal.aborted) break;
      attempt++;
      const delay = backoffDelay(this.#settings.backoff, attempt);
      logger.warn(
        "Channel {connection} is down ({reason}); {inFlight} events await acknowledgement; reconnecting in {delay} ms",
        {
          connection: this.#describe(),
          reason,
          inFlight: this.#inFlight.size,
          delay,
        },
      );
      await sleep(delay, { signal });
    }
  }

  async #session(onUp: () => void): Promise<void> {
    const settings = this.#settings;
    let timedOut = false;
    let conn: Deno.Conn | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      if (conn !== undefined) closeQuietly(conn);
    }, settings.handshakeTimeoutMs);
    try {
      conn = await connect(settings.address);
    } catch (error) {
      clearTimeout(timer);
      throw new ChannelClientError(
        `cannot connect: ${
          error instanceof Error ? error.message : String(error)
        }`,
        { cause: error },
      );
    }
    const opened = conn;
    this.#hangUp = () => closeQuietly(opened);
    if (settings.signal.aborted) {
      clearTimeout(timer);
      conn.close();
      return;
    }
    const frames = new FrameReader(conn, { maxBytes: 4096 });
    try {
      let handshake;
      try {
        handshake = await clientHandshake(
          { reader: frames, writer: new FrameWriter(conn) },
          settings.key,
          { maxFrameBytes: settings.maxFrameBytes },
        );
      } catch (error) {
        if (timedOut) {
          throw new ChannelClientError(
            `the handshake did not complete within ${settings.handshakeTimeoutMs} ms`,
          );
        }
        throw new ChannelClientError(
          `authentication failed: ${
            error instanceof Error ? error.message : String(error)
          }`,
          { cause: error },
        );
      } finally {
        clearTimeout(timer);
      }
      const { reader, writer } = openMessages(conn, frames, handshake, {
        from: "the server",
        maxFrameBytes: settings.maxFrameBytes,
        maxMessageBytes: settings.maxFrameBytes,
        initial: handshake.ready,
      });
      const ready = await reader.read();
      if (ready === null) return;
      decodeMessage(ready, ["ready"]);
      this.#maxEventBytes = handshake.peerMaxEventBytes;
      this.#writer = writer;
      this.#up = true;
      onUp();
      logger.info(
        "Channel {connection} is up; re-sending {inFlight} unacknowledged events",
        {
          connection: this.#describe(),
          inFlight: this.#inFlight.size,
        },
      );
      for (const [id, frame] of this.#inFlight) this.#send(id, frame);
      for (const wake of this.#upWaiters.splice(0)) wake();
      while (true) {
        const payload = await reader.read();
        if (payload === null) return;
        const ack = decodeMessage(payload, ["ack"]);
        if (this.#inFlight.delete(ack.id)) {
          settings.onAck(ack.id);
          this.#roomWaiters.shift()?.();
          if (this.#inFlight.size === 0) {
            for (const wake of this.#drainWaiters.splice(0)) wake();
          }
        }
      }
    } finally {
      this.#up = false;
      this.#writer = undefined;
      closeQuietly(conn);
    }
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
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
    const settings: Settings = {
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
