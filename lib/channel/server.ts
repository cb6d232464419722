/**
 * The Event Generator's end of the channel: accepts connections,
 * authenticates them, hands each event to a handler and acknowledges it only
 * after the handler resolved. Events of one order key (the workgroup unless
 * `orderKey` says otherwise; across all connections) are handed over in
 * arrival order, at most `perKeyInFlight` of them unacknowledged (1 by
 * default: one after the other; more only for a handler that keeps their
 * order itself), and acknowledged in that order: an event whose handler
 * resolved waits for the acknowledgement of its key's earlier ones
 * (lanes.ts). Different keys run concurrently.
 * A connection that fails authentication or sends a bad frame is closed with
 * a log line naming it; other connections and the server carry on.
 *
 * @module
 */

import { getLogger } from "../log/mod.ts";
import { type ChannelAddress, describeAddress } from "./address.ts";
import { AuthKey, serverHandshake } from "./auth.ts";
import { encodeFrame, FrameReader, FrameWriter } from "./framing.ts";
import { decodeMessage, encodeMessage, ProtocolError } from "./protocol.ts";
import { sleep } from "../async.ts";
import { openMessages } from "./session.ts";
import { OrderedLanes } from "./lanes.ts";
import { bindChannel } from "./listener.ts";
import {
  type ChannelServerOptions,
  type ChannelServerStats,
  type EventContext,
  type IncomingEvent,
  type ResolvedServerOptions,
  resolveServerOptions,
} from "./server_options.ts";

export { ChannelServerError } from "./listener.ts";

export type {
  ChannelServerOptions,
  ChannelServerStats,
  EventContext,
  EventHandler,
  IncomingEvent,
} from "./server_options.ts";

const logger = getLogger(["lib", "channel"]);

interface Connection {
  conn: Deno.Conn;
  peer: string;
  closed: boolean;
  inFlight: number;
  wake: (() => void) | undefined;
  /** The sealed message writer, once authenticated. */
  writer: FrameWriter | undefined;
}

/** The listening end of the channel. */
export class ChannelServer {
  #listener: Deno.Listener;
  #address: ChannelAddress;
  #key: AuthKey;
  #options: ResolvedServerOptions;
  #lanes: OrderedLanes;
  #connections = new Set<Connection>();
  #tasks = new Set<Promise<void>>();
  #accepting: Promise<void>;
  #counter = 0;
  #closed = false;
  #stats: ChannelServerStats = {
    accepted: 0,
    authenticated: 0,
    refused: 0,
    closedOnError: 0,
    acked: 0,
    open: 0,
  };

  private constructor(
    listener: Deno.Listener,
    address: ChannelAddress,
    key: AuthKey,
    options: ResolvedServerOptions,
  ) {
    this.#listener = listener;
    this.#address = address;
    this.#key = key;
    this.#options = options;
    this.#lanes = new OrderedLanes(options.perKeyInFlight);
    this.#accepting = this.#accept();
  }

  /**
   * Loads the key (refusing a key file open to others), binds the address
   * (replacing a stale Unix socket, refusing one in use) and starts accepting.
   */
  static async listen(options: ChannelServerOptions): Promise<ChannelServer> {
    const resolved = resolveServerOptions(options);
    const key = await AuthKey.load(resolved.keyFile);
    const bound = await bindChannel(resolved.address, resolved.socketMode);
    logger.info("Listening for the channel on {address}", {
      address: describeAddress(bound.address),
    });
    return new ChannelServer(bound.listener, bound.address, key, resolved);
  }

  /** The bound address (with the actual port for TCP port 0). */
  get address(): ChannelAddress {
    return this.#address;
  }

  /** A copy of the counters. */
  get stats(): ChannelServerStats {
    return { ...this.#stats, open: this.#connections.size };
  }

  /** Stops accepting, closes every connection and waits for running handlers. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    for (const connection of this.#connections) this.#drop(connection);
    await this.#accepting;
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
    if (this.#address.transport === "unix") {
      await Deno.remove(this.#address.path).catch(() => {});
    }
  }

  async #accept(): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closed) return;
        logger.error(
          "Cannot accept a channel connection on {address}: {error}",
          {
            address: describeAddress(this.#address),
            error: String(error),
          },
        );
        await sleep(100);
        continue;
      }
      this.#stats.accepted++;
      this.#track(this.#serve(conn, ++this.#counter));
    }
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task));
  }

  #peer(conn: Deno.Conn, number: number): string {
    const remote = conn.remoteAddr;
    if (remote.transport === "tcp") {
      return `#${number} from ${remote.hostname}:${remote.port}`;
    }
    return `#${number} on ${describeAddress(this.#address)}`;
  }

  async #serve(conn: Deno.Conn, number: number): Promise<void> {
    const peer = this.#peer(conn, number);
    const frames = new FrameReader(conn, {
      maxBytes: this.#options.maxHandshakeFrameBytes,
    });
    const connection: Connection = {
      conn,
      peer,
      closed: false,
      inFlight: 0,
      wake: undefined,
      writer: undefined,
    };
    this.#connections.add(connection);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.#drop(connection);
    }, this.#options.handshakeTimeoutMs);
    let handshake;
    try {
      handshake = await serverHandshake(
        { reader: frames, writer: new FrameWriter(conn) },
        this.#key,
        {
          maxFrameBytes: this.#options.maxFrameBytes,
          maxEventBytes: this.#options.maxEventBytes,
        },
      );
    } catch (error) {
      this.#stats.refused++;
      if (!this.#closed) {
        logger.warn("Refused channel connection {peer}: {reason}", {
          peer,
          reason: timedOut
            ? `it did not complete the handshake within ${this.#options.handshakeTimeoutMs} ms`
            : reasonOf(error),
        });
      }
      this.#drop(connection);
      return;
    } finally {
      clearTimeout(timer);
    }
    const { reader, writer } = openMessages(conn, frames, handshake, {
      from: "the client",
      maxFrameBytes: this.#options.maxFrameBytes,
      maxMessageBytes: this.#options.maxEventBytes,
      kind: "event",
      limit: "channel.max_event_bytes",
    });
    connection.writer = writer;
    this.#stats.authenticated++;
    logger.info("Accepted channel connection {peer}", { peer });
    const context: EventContext = { connection: number, peer };
    try {
      await writer.write(encodeFrame(encodeMessage({ type: "ready" })));
      while (!connection.closed) {
        const payload = await reader.read();
        if (payload === null) break;
        const event = decodeMessage(payload, ["event"]);
        if (
          event.id === "" || event.id.length > 256 || event.workgroup === ""
        ) {
          throw new ProtocolError(
            "expected an event with a non-empty id of at most 256 characters and a non-empty workgroup",
          );
        }
        while (
          connection.inFlight >= this.#options.maxInFlight && !connection.closed
        ) {
          await new Promise<void>((resolve) => connection.wake = resolve);
        }
        if (connection.closed) break;
        this.#dispatch(connection, context, {
          id: event.id,
          workgroup: event.workgroup,
          body: event.body,
        });
      }
      if (!connection.closed) {
        logger.info("Channel connection {peer} closed by the client", { peer });
      }
    } catch (error) {
      if (!connection.closed) {
        this.#stats.closedOnError++;
        logger.warn("Closing channel connection {peer}: {reason}", {
          peer,
          reason: reasonOf(error),
        });
      }
    } finally {
      this.#drop(connection);
    }
  }

  #dispatch(
    connection: Connection,
    context: EventContext,
    event: IncomingEvent,
  ): void {
    connection.inFlight++;
    const finished = this.#lanes.add(this.#options.orderKey(event), {
      start: () => this.#handle(connection, context, event),
      finish: (ok) => {
        if (!ok || connection.closed) return;
        this.#stats.acked++;
        connection.writer!.write(
          encodeFrame(encodeMessage({ type: "ack", id: event.id })),
        ).catch(() => this.#drop(connection));
      },
    });
    this.#track(finished.finally(() => {
      connection.inFlight--;
      const wake = connection.wake;
      connection.wake = undefined;
      wake?.();
    }));
  }

  /** Runs the handler; false when the event must not be acknowledged. */
  async #handle(
    connection: Connection,
    context: EventContext,
    event: IncomingEvent,
  ): Promise<boolean> {
    // A closed connection's remaining events are re-sent by the client.
    if (connection.closed) return false;
    try {
      await this.#options.handler(event, context);
      return true;
    } catch (error) {
      if (!connection.closed) {
        this.#stats.closedOnError++;
        logger.error(
          "Event {eventId} of workgroup {workgroup} failed in the handler; closing {peer} so the client re-sends it: {reason}",
          {
            eventId: event.id,
            workgroup: event.workgroup,
            peer: connection.peer,
            reason: reasonOf(error),
          },
        );
        this.#drop(connection);
      }
      return false;
    }
  }

  #drop(connection: Connection): void {
    if (!connection.closed) {
      connection.closed = true;
      try {
        connection.conn.close();
      } catch {
        // Already closed.
      }
    }
    this.#connections.delete(connection);
    const wake = connection.wake;
    connection.wake = undefined;
    wake?.();
  }
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
