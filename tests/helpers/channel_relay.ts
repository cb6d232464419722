/**
 * A TCP relay between a channel client and server that can tamper with the
 * stream: the attacker of issue 8 defect 4 (nothing of ours plays that part,
 * so the test brings it). It knows frames (a length and bytes), not the key.
 *
 * @module
 */

import { encodeFrame, FrameReader } from "../../lib/channel/mod.ts";

/** A direction through the relay. */
export type Direction = "toServer" | "toClient";

/** One relayed connection, as a tampering hook sees it. */
export interface RelayedConnection {
  /** 1 for the first connection the relay accepted, 2, … */
  number: number;
  /** Frames seen so far per direction (including the current one). */
  seen: Record<Direction, Uint8Array[]>;
  /** Writes a frame of the relay's own into a direction. */
  inject(direction: Direction, payload: Uint8Array): Promise<void>;
  /** Closes both sides. */
  close(): void;
  /** The server the relay connects to (for connections of its own). */
  target: Deno.ConnectOptions;
}

/**
 * Decides what to forward for a frame: the frames to write instead (empty
 * to drop, twice to replay). Undefined = pass the frame through.
 */
export type Tamper = (
  direction: Direction,
  payload: Uint8Array,
  connection: RelayedConnection,
) => Uint8Array[] | undefined | Promise<Uint8Array[] | undefined>;

/** The handshake messages (plain JSON frames) of both protocol versions. */
export function isHandshake(payload: Uint8Array): boolean {
  if (payload[0] !== 0x7b) return false;
  try {
    const { type } = JSON.parse(new TextDecoder().decode(payload));
    return ["challenge", "hello", "welcome", "proof", "refused"].includes(
      type,
    );
  } catch {
    return false;
  }
}

/** Listens on 127.0.0.1, connects each client to `target`, tampers as told. */
export class Relay {
  #listener: Deno.TcpListener;
  #target: Deno.ConnectOptions;
  #tamper: Tamper;
  #conns = new Set<Deno.Conn>();
  #tasks = new Set<Promise<void>>();
  #count = 0;
  #accepting: Promise<void>;

  /** Starts relaying to `target` (a TCP channel server's address). */
  constructor(target: { hostname: string; port: number }, tamper: Tamper) {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#target = { hostname: target.hostname, port: target.port };
    this.#tamper = tamper;
    this.#accepting = this.#accept();
  }

  /** The address clients connect to. */
  get address(): { transport: "tcp"; hostname: string; port: number } {
    return {
      transport: "tcp",
      hostname: "127.0.0.1",
      port: this.#listener.addr.port,
    };
  }

  /** Connections accepted so far. */
  get connections(): number {
    return this.#count;
  }

  async #accept(): Promise<void> {
    for await (const client of this.#listener) {
      const number = ++this.#count;
      const task = this.#relay(client, number).catch(() => {});
      this.#tasks.add(task);
      task.finally(() => this.#tasks.delete(task));
    }
  }

  async #relay(client: Deno.Conn, number: number): Promise<void> {
    const server = await Deno.connect(this.#target);
    this.#conns.add(client);
    this.#conns.add(server);
    const to = { toServer: server, toClient: client };
    const connection: RelayedConnection = {
      number,
      seen: { toServer: [], toClient: [] },
      inject: async (direction, payload) => {
        await writeAll(to[direction], encodeFrame(payload));
      },
      close: () => {
        close(client);
        close(server);
      },
      target: this.#target,
    };
    const pump = async (direction: Direction, from: Deno.Conn) => {
      const reader = new FrameReader(from, { maxBytes: 1 << 30 });
      try {
        for (
          let payload = await reader.read();
          payload !== null;
          payload = await reader.read()
        ) {
          connection.seen[direction].push(payload);
          const out = await this.#tamper(direction, payload, connection) ??
            [payload];
          for (const frame of out) {
            await writeAll(to[direction], encodeFrame(frame));
          }
        }
      } finally {
        close(client);
        close(server);
      }
    };
    await Promise.allSettled([
      pump("toServer", client),
      pump("toClient", server),
    ]);
    this.#conns.delete(client);
    this.#conns.delete(server);
  }

  /** Closes every relayed connection (the relay keeps accepting). */
  closeConnections(): Promise<void> {
    for (const conn of this.#conns) close(conn);
    return Promise.allSettled([...this.#tasks]).then(() => {});
  }

  /** Stops relaying and closes every relayed connection. */
  async close(): Promise<void> {
    this.#listener.close();
    for (const conn of this.#conns) close(conn);
    await this.#accepting.catch(() => {});
    await Promise.allSettled([...this.#tasks]);
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await conn.write(bytes.subarray(written));
  }
}

function close(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
