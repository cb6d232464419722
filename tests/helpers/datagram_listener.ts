/**
 * A real Unix datagram socket (SOCK_DGRAM) that collects what is sent to it,
 * standing where systemd's `NOTIFY_SOCKET` or journald's socket would be.
 *
 * @module
 */

/** A bound datagram socket collecting every datagram it receives. */
export class DatagramListener {
  #conn: Deno.DatagramConn;
  #datagrams: Uint8Array[] = [];
  #waiters = new Set<() => void>();
  #loop: Promise<void>;
  /** The address as systemd would name it: a path, or `@name` if abstract. */
  readonly name: string;

  /** Binds to `address`: a path, or `\0name` for an abstract socket. */
  constructor(address: string) {
    this.#conn = Deno.listenDatagram({
      transport: "unixpacket",
      path: address,
    });
    this.name = address.startsWith("\0") ? `@${address.slice(1)}` : address;
    this.#loop = this.#receive();
  }

  /** Every datagram received so far. */
  get datagrams(): readonly Uint8Array[] {
    return this.#datagrams;
  }

  /** Every datagram received so far, as text. */
  get messages(): string[] {
    return this.#datagrams.map((data) => new TextDecoder().decode(data));
  }

  /** Waits until at least `count` datagrams arrived; rejects after `timeoutMs`. */
  async waitForCount(count: number, timeoutMs = 5000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.#datagrams.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `Expected ${count} datagrams on ${this.name} within ${timeoutMs} ms, got ${this.#datagrams.length}: ${
            JSON.stringify(this.messages)
          }`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiters.add(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
    return this.messages;
  }

  /** Stops listening; the datagrams received stay readable. */
  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    await this.#loop;
  }

  async #receive(): Promise<void> {
    for (;;) {
      let data: Uint8Array;
      try {
        [data] = await this.#conn.receive();
      } catch {
        return; // closed
      }
      this.#datagrams.push(data);
      for (const wake of this.#waiters) wake();
      this.#waiters.clear();
    }
  }
}
