/**
 * A TCP relay between the sync client and the real slapd of the local stack:
 * it forwards bytes unchanged and, when told, drops them (a network failure;
 * slapd itself keeps running).
 *
 * @module
 */

/**
 * A TCP relay to slapd that can cut its connections: after `cutAfter` bytes
 * from the server on the first connection, or all of them on `cutAll()`.
 */
export class Relay {
  readonly port: number;
  #listener: Deno.TcpListener;
  #target: number;
  #cutAfter: number | undefined;
  #live = new Set<Deno.Conn>();
  /** Bytes forwarded from the server to the client so far. */
  forwarded = 0;
  #tasks: Promise<void>[] = [];
  /** Connections accepted so far. */
  connections = 0;

  /** Listens on a free port of 127.0.0.1 and forwards to slapd's `target` port. */
  constructor(target: number, cutAfter?: number) {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = this.#listener.addr.port;
    this.#target = target;
    this.#cutAfter = cutAfter;
    this.#tasks.push(this.#accept());
  }

  /** The relay's `ldap://` URL. */
  get url(): string {
    return `ldap://127.0.0.1:${this.port}`;
  }

  /** Cuts every open connection (slapd keeps running). */
  cutAll(): void {
    for (const conn of this.#live) conn.close();
    this.#live.clear();
  }

  /** Stops listening and cuts every connection. */
  async close(): Promise<void> {
    this.#listener.close();
    this.cutAll();
    await Promise.allSettled(this.#tasks);
  }

  async #accept(): Promise<void> {
    try {
      for await (const client of this.#listener) {
        const limit = this.connections === 0 ? this.#cutAfter : undefined;
        this.connections++;
        const server = await Deno.connect({
          hostname: "127.0.0.1",
          port: this.#target,
        });
        this.#live.add(client);
        this.#live.add(server);
        const cut = () => {
          for (const conn of [client, server]) {
            if (this.#live.delete(conn)) conn.close();
          }
        };
        this.#tasks.push(this.#pump(client, server, undefined, cut, false));
        this.#tasks.push(this.#pump(server, client, limit, cut, true));
      }
    } catch {
      // The listener was closed.
    }
  }

  async #pump(
    from: Deno.Conn,
    to: Deno.Conn,
    limit: number | undefined,
    cut: () => void,
    fromServer: boolean,
  ): Promise<void> {
    const buffer = new Uint8Array(16 * 1024);
    let total = 0;
    try {
      for (;;) {
        const count = await from.read(buffer);
        if (count === null) break;
        let chunk = buffer.subarray(0, count);
        if (limit !== undefined && total + count >= limit) {
          chunk = chunk.subarray(0, limit - total);
        }
        for (let offset = 0; offset < chunk.length;) {
          offset += await to.write(chunk.subarray(offset));
        }
        total += chunk.length;
        if (fromServer) this.forwarded += chunk.length;
        if (limit !== undefined && total >= limit) break;
      }
    } catch {
      // The other side or cutAll() closed the connection.
    }
    cut();
  }
}
