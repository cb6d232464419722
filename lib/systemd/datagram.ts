/**
 * Sending datagrams to a Unix datagram socket such as systemd's
 * `NOTIFY_SOCKET` or `/run/systemd/journal/socket`.
 *
 * `Deno.connect` cannot talk to datagram sockets (EPROTOTYPE), so this uses an
 * unbound `Deno.listenDatagram({ transport: "unixpacket" })` socket and
 * `send(data, { path })`. That API is unstable: the process needs
 * `--unstable-net` (deno.json has `"unstable": ["net"]`), plus
 * `--allow-write=<socket>` and `--allow-net=unix:<socket>` for a path socket,
 * or unscoped `--allow-net` for an abstract socket.
 *
 * @module
 */

/** How long {@linkcode DatagramSender.close} waits for queued sends. */
export const CLOSE_WAIT_MS = 1000;

/** Thrown when a datagram cannot be sent; `cause` holds the system error. */
export class DatagramError extends Error {
  /** Creates the error; `cause` is the underlying failure. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DatagramError";
  }
}

/**
 * The address Linux uses for a socket named like systemd names them: a
 * leading `@` stands for an abstract socket, whose name starts with a NUL byte.
 */
export function socketAddress(name: string): string {
  return name.startsWith("@") ? `\0${name.slice(1)}` : name;
}

/** Whether `error` says the datagram was larger than the socket accepts. */
export function isMessageTooLong(error: unknown): boolean {
  const cause = error instanceof DatagramError ? error.cause : error;
  return cause instanceof Error && /os error 90\b/.test(cause.message);
}

/**
 * Sends datagrams, one at a time and in order, to one Unix datagram socket.
 * Deno refuses a second `send` on a socket while one is pending ("Socket
 * already in use"), so sends are queued behind each other.
 */
export class DatagramSender {
  #path: string;
  #display: string;
  #conn: Deno.DatagramConn | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;
  #released = false;

  /** Prepares a sender to `socket`: a path, or `@name` for an abstract socket. */
  constructor(socket: string) {
    if (socket === "" || socket === "@") {
      throw new TypeError(
        `Cannot send datagrams as the socket name is empty: socket is "${socket}"`,
      );
    }
    this.#display = socket;
    this.#path = socketAddress(socket);
  }

  /** The socket as given, `@name` for an abstract socket. */
  get socket(): string {
    return this.#display;
  }

  /** Whether {@linkcode DatagramSender.close} was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Sends one datagram after those sent before it. Rejects with a
   * {@linkcode DatagramError} when the socket is missing, refuses the data or
   * the sender was closed before this call.
   */
  send(data: Uint8Array): Promise<void> {
    if (this.closed) {
      return Promise.reject(
        new DatagramError(
          `Cannot send to "${this.#display}" as the sender is closed`,
        ),
      );
    }
    const result = this.#tail.then(() => this.#sendNow(data));
    this.#tail = result.catch(() => {});
    return result;
  }

  /**
   * Refuses further sends and closes the socket once the sends already
   * queued are done, or after {@linkcode CLOSE_WAIT_MS} if one is stuck
   * (those then reject). Idempotent; the promise (which never rejects)
   * resolves when the socket is closed.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const release = () => {
      clearTimeout(timer);
      if (this.#released) return;
      this.#released = true;
      try {
        this.#conn?.close();
      } catch {
        // Already closed: nothing left to release.
      }
      this.#conn = undefined;
    };
    this.#closing = Promise.race([
      this.#tail,
      new Promise((resolve) => {
        timer = setTimeout(resolve, CLOSE_WAIT_MS);
        Deno.unrefTimer(timer);
      }),
    ]).then(release);
    return this.#closing;
  }

  async #sendNow(data: Uint8Array): Promise<void> {
    try {
      if (this.#released) throw new Error("the socket was closed");
      this.#conn ??= openUnboundSocket();
      await this.#conn.send(data, {
        transport: "unixpacket",
        path: this.#path,
      });
    } catch (error) {
      throw new DatagramError(
        `Cannot send a datagram of ${data.length} bytes to "${this.#display}": ${
          describe(error)
        }`,
        { cause: error },
      );
    }
  }
}

function openUnboundSocket(): Deno.DatagramConn {
  if (typeof Deno.listenDatagram !== "function") {
    throw new Error(
      "Deno.listenDatagram is unavailable: run with --unstable-net",
    );
  }
  // An unbound socket: no path, so nothing is created on disk. The type
  // definitions demand a path although the runtime accepts none.
  return Deno.listenDatagram(
    { transport: "unixpacket" } as Deno.UnixListenOptions & {
      transport: "unixpacket";
    },
  );
}

function describe(error: unknown): string {
  return error instanceof Error
    ? `${error.name}: ${error.message}`
    : String(error);
}
