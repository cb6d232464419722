/**
 * The Event Generator's end of the channel: accepts connections,
 * authenticates them, hands each event to a handler and acknowledges it only
 * after the handler resolved. Events of one workgroup are handled one after
 * the other (across all connections), different workgroups concurrently.
 * An event can name further workgroups it must follow (`related`, e.g. a
 * rename's previous name): it waits for the events of those before it too,
 * and their later events wait for it — so an event addressing a name never
 * overtakes an earlier one of the same name, whichever of its names the
 * frame carries.
 * A connection that fails authentication or sends a bad frame is closed with
 * a log line naming it; other connections and the server carry on.
 *
 * @module
 */

import { getLogger } from "../log/mod.ts";
import {
  type ChannelAddress,
  connect,
  describeAddress,
  validateAddress,
} from "./address.ts";
import { AuthKey, serverHandshake } from "./auth.ts";
import {
  DEFAULT_MAX_EVENT_BYTES,
  DEFAULT_MAX_FRAME_BYTES,
  MIN_FRAME_BYTES,
} from "./defaults.ts";
import { encodeFrame, FrameReader, FrameWriter } from "./framing.ts";
import { decodeMessage, encodeMessage, ProtocolError } from "./protocol.ts";
import { sleep } from "../async.ts";
import { optionChecks } from "../options.ts";
import { openMessages } from "./session.ts";

/** An event received from the consumer. */
export interface IncomingEvent {
  id: string;
  workgroup: string;
  /** The event (schema v1), parsed. */
  body: unknown;
}

/** Where an event came from. */
export interface EventContext {
  /** The server's number for the connection (1, 2, …). */
  connection: number;
  /** The connection as named in log lines. */
  peer: string;
}

/** Handles one event; the event is acknowledged once the promise resolves. A rejection closes the connection so the client re-sends. */
export type EventHandler = (
  event: IncomingEvent,
  context: EventContext,
) => Promise<void>;

/** Options of {@linkcode ChannelServer.listen}. */
export interface ChannelServerOptions {
  address: ChannelAddress;
  /** The shared auth key file (mode 0600 or tighter). */
  keyFile: string;
  handler: EventHandler;
  /**
   * The largest frame accepted from an authenticated client (a guard
   * against garbage; larger events arrive in several frames). At least
   * {@linkcode MIN_FRAME_BYTES}.
   * @default {DEFAULT_MAX_FRAME_BYTES} (1 MiB)
   */
  maxFrameBytes?: number;
  /**
   * The largest event accepted, reassembled from its frames; refused from
   * its length, before it is buffered.
   * @default {DEFAULT_MAX_EVENT_BYTES} (64 MiB)
   */
  maxEventBytes?: number;
  /** The largest frame accepted before authentication. Default 4096. */
  maxHandshakeFrameBytes?: number;
  /** Time allowed for the handshake, in ms. Default 5000. */
  handshakeTimeoutMs?: number;
  /** Events handled at once per connection before reading pauses. Default 1024. */
  maxInFlight?: number;
  /** Mode of the Unix socket file. Default 0o660. */
  socketMode?: number;
  /**
   * Workgroups other than the frame's whose events `event` is ordered with
   * (wgsync-event: a rename's previous name). The client must send such
   * related events on one connection (it does for one stem).
   * @default {() => []}
   */
  related?: (event: IncomingEvent) => readonly string[];
}

/** Counters of a {@linkcode ChannelServer}. */
export interface ChannelServerStats {
  accepted: number;
  authenticated: number;
  refused: number;
  closedOnError: number;
  acked: number;
  open: number;
}

/** Raised when the server cannot start. */
export class ChannelServerError extends Error {
  /** Constructs a ChannelServerError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ChannelServerError";
  }
}

const check = optionChecks("start the channel server");
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
  #handler: EventHandler;
  #maxFrameBytes: number;
  #maxEventBytes: number;
  #maxHandshakeFrameBytes: number;
  #handshakeTimeoutMs: number;
  #maxInFlight: number;
  #related: (event: IncomingEvent) => readonly string[];
  #connections = new Set<Connection>();
  #chains = new Map<string, Promise<void>>();
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
    options: ChannelServerOptions,
  ) {
    this.#listener = listener;
    this.#address = address;
    this.#key = key;
    this.#handler = options.handler;
    this.#maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.#maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
    this.#maxHandshakeFrameBytes = options.maxHandshakeFrameBytes ?? 4096;
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs ?? 5000;
    this.#maxInFlight = options.maxInFlight ?? 1024;
    this.#related = options.related ?? (() => []);
    this.#accepting = this.#accept();
  }

  /**
   * Loads the key (refusing a key file open to others), binds the address
   * (replacing a stale Unix socket, refusing one in use) and starts accepting.
   */
  static async listen(options: ChannelServerOptions): Promise<ChannelServer> {
    const address = validateAddress(options.address);
    check.numberInRange(
      "maxFrameBytes",
      options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      { min: MIN_FRAME_BYTES, integer: true },
    );
    check.numberInRange(
      "maxEventBytes",
      options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES,
      { min: MIN_FRAME_BYTES, integer: true },
    );
    check.positiveInteger(
      "maxHandshakeFrameBytes",
      options.maxHandshakeFrameBytes ?? 4096,
    );
    check.positiveInteger(
      "handshakeTimeoutMs",
      options.handshakeTimeoutMs ?? 5000,
    );
    check.positiveInteger("maxInFlight", options.maxInFlight ?? 1024);
    const key = await AuthKey.load(options.keyFile);
    let listener: Deno.Listener;
    try {
      if (address.transport === "unix") {
        await removeStaleSocket(address.path);
        listener = Deno.listen({ transport: "unix", path: address.path });
        await Deno.chmod(address.path, options.socketMode ?? 0o660);
      } else {
        listener = Deno.listen({
          transport: "tcp",
          hostname: address.hostname,
          port: address.port,
        });
      }
    } catch (error) {
      if (error instanceof ChannelServerError) throw error;
      throw new ChannelServerError(
        `Cannot listen for the channel: address is ${describeAddress(address)}`,
        { cause: error },
      );
    }
    const bound: ChannelAddress = address.transport === "tcp"
      ? { ...address, port: (listener.addr as Deno.NetAddr).port }
      : address;
    logger.info("Listening for the channel on {address}", {
      address: describeAddress(bound),
    });
    return new ChannelServer(listener, bound, key, options);
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
      maxBytes: this.#maxHandshakeFrameBytes,
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
    }, this.#handshakeTimeoutMs);
    let handshake;
    try {
      handshake = await serverHandshake(
        { reader: frames, writer: new FrameWriter(conn) },
        this.#key,
        {
          maxFrameBytes: this.#maxFrameBytes,
          maxEventBytes: this.#maxEventBytes,
        },
      );
    } catch (error) {
      this.#stats.refused++;
      if (!this.#closed) {
        logger.warn("Refused channel connection {peer}: {reason}", {
          peer,
          reason: timedOut
            ? `it did not complete the handshake within ${this.#handshakeTimeoutMs} ms`
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
      maxFrameBytes: this.#maxFrameBytes,
      maxMessageBytes: this.#maxEventBytes,
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
        while (connection.inFlight >= this.#maxInFlight && !connection.closed) {
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
    const keys = [...new Set([event.workgroup, ...this.#related(event)])];
    const tails = keys.flatMap((key) => this.#chains.get(key) ?? []);
    const previous = tails.length <= 1
      ? tails[0] ?? Promise.resolve()
      : Promise.all(tails);
    const run = previous.then(async () => {
      // A closed connection's remaining events are re-sent by the client.
      if (connection.closed) return;
      try {
        await this.#handler(event, context);
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
        return;
      }
      if (connection.closed) return;
      this.#stats.acked++;
      connection.writer!.write(
        encodeFrame(encodeMessage({ type: "ack", id: event.id })),
      )
        .catch(() => this.#drop(connection));
    });
    for (const key of keys) this.#chains.set(key, run);
    this.#track(run.finally(() => {
      for (const key of keys) {
        if (this.#chains.get(key) === run) this.#chains.delete(key);
      }
      connection.inFlight--;
      const wake = connection.wake;
      connection.wake = undefined;
      wake?.();
    }));
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

async function removeStaleSocket(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (!info.isSocket) {
    throw new ChannelServerError(
      `Cannot listen for the channel as the socket path exists and is not a socket: path is "${path}"`,
    );
  }
  try {
    const conn = await connect({ transport: "unix", path });
    conn.close();
  } catch {
    await Deno.remove(path);
    return;
  }
  throw new ChannelServerError(
    `Cannot listen for the channel as another server is listening: path is "${path}"`,
  );
}
