/**
 * One connection of the channel client: its window of events sent but not
 * acknowledged, its session (connect, handshake, re-send of the window,
 * acknowledgements) and its reconnect loop with backoff.
 *
 * @module
 */

import { getLogger } from "../log/mod.ts";
import { backoffDelay, type ResolvedBackoff } from "../backoff.ts";
import { type ChannelAddress, connect, describeAddress } from "./address.ts";
import { type AuthKey, clientHandshake } from "./auth.ts";
import { encodeFrame, FrameReader, FrameWriter } from "./framing.ts";
import { decodeMessage, eventText } from "./protocol.ts";
import { sleep } from "../async.ts";
import { openMessages } from "./session.ts";

/** An event to send. */
export interface OutgoingEvent {
  id: string;
  workgroup: string;
  /** The event as JSON text. */
  body: string;
}

/** Raised for invalid client options or a use after close. */
export class ChannelClientError extends Error {
  /** Constructs a ChannelClientError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ChannelClientError";
  }
}

const logger = getLogger(["lib", "channel"]);

/** What every connection of one client shares. */
export interface SlotSettings {
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
export class Slot {
  #settings: SlotSettings;
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

  constructor(settings: SlotSettings, number: number) {
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
