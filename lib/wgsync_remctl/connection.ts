/**
 * One kept-open remctl connection (protocol v3) on `lib/gssapi`: the GSS
 * context is established once and reused for every command.
 *
 * Why not `libremctl` through FFI: both were measured against the stack's
 * remctld (see the issue note and `tasks/bench_remctl.ts`). libremctl names
 * the ticket cache safely (`remctl_set_ccache` stores the name and imports it
 * with `gss_krb5_import_cred`; 0 crashes in 60 opens on empty, corrupt and
 * missing caches), but its calls block a thread, so concurrency needs
 * `nonblocking: true` (a thread-pool thread per call) and its timeouts are
 * per read, not per command. Written here, the connection is an ordinary
 * async socket, the command timeout covers the whole command, and one
 * protocol detail removes remctld's 40 ms Nagle/delayed-ACK stall on every
 * command with output: as soon as an OUTPUT message arrives the client sends
 * a v3 NOOP, whose segment carries the ACK remctld's held STATUS token
 * waits for (measured: a command with output from 44 ms to about 1 ms).
 *
 * @module
 */

import { GssInitiator } from "../gssapi/mod.ts";
import {
  commandMessages,
  decodeServerMessage,
  encodeToken,
  NOOP_MESSAGE,
  QUIT_MESSAGE,
  REMOTE_ERRORS,
  type ServerMessage,
  TOKEN_CONTEXT,
  TOKEN_CONTEXT_NEXT,
  TOKEN_DATA,
  TOKEN_MAX_DATA,
  TOKEN_MAX_LENGTH,
  TOKEN_NOOP,
  TOKEN_PROTOCOL,
} from "./protocol.ts";
import { RemctlError } from "./errors.ts";
import { TokenReader } from "./token_reader.ts";

/** Options of {@linkcode RemctlConnection.open}. */
export interface RemctlConnectionOptions {
  host: string;
  /** @default {4373} */
  port?: number;
  /** The server's principal, e.g. `host/example.org`; default `host/<host>`. */
  principal?: string;
  /** The ticket cache (`FILE:/path` or an absolute path), always named explicitly. */
  ccache: string;
  /** Connect + GSS handshake timeout in milliseconds. @default {10000} */
  timeoutMs?: number;
  /** Send a v3 NOOP after the first OUTPUT of a command (see the module doc). @default {true} */
  ackOutput?: boolean;
}

/** What a command returned. */
export interface RemctlResult {
  /** The exit status the server reported. */
  status: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
}

/** A kept-open remctl connection; one command at a time. */
export class RemctlConnection {
  #conn: Deno.TcpConn;
  #reader: TokenReader;
  #gss: GssInitiator;
  #where: string;
  #ackOutput: boolean;
  #v3 = true;
  /** Argument bytes per MESSAGE_COMMAND: 64 KiB of wrap input less the 4-octet header. */
  #chunkData = TOKEN_MAX_DATA - 4;
  #pendingNoops = 0;
  #busy = false;
  #closed = false;
  #lastUsed = performance.now();

  private constructor(
    conn: Deno.TcpConn,
    gss: GssInitiator,
    options: { where: string; ackOutput: boolean },
  ) {
    this.#conn = conn;
    this.#reader = new TokenReader(conn);
    this.#gss = gss;
    this.#where = options.where;
    this.#ackOutput = options.ackOutput;
  }

  /** Connects and establishes the GSS context; throws a {@linkcode RemctlError}. */
  static async open(
    options: RemctlConnectionOptions,
  ): Promise<RemctlConnection> {
    const port = options.port ?? 4373;
    const principal = options.principal ?? `host/${options.host}`;
    const where = `remctl server ${options.host}:${port} ("${principal}")`;
    const timeoutMs = options.timeoutMs ?? 10_000;
    let gss: GssInitiator;
    try {
      gss = new GssInitiator(principal, {
        ccache: options.ccache,
        targetNameType: "principal",
      });
    } catch (error) {
      throw new RemctlError(
        `Cannot connect to the ${where}: ${message(error)}`,
        {
          kind: "gss",
          cause: error,
        },
      );
    }
    let conn: Deno.TcpConn | undefined;
    const timer = setTimeout(() => {
      try {
        conn?.close();
      } catch { /* already closed */ }
    }, timeoutMs);
    const timedOut = () => performance.now() - started >= timeoutMs;
    const started = performance.now();
    try {
      conn = await Promise.race([
        Deno.connect({ hostname: options.host, port }),
        new Promise<never>((_, reject) =>
          setTimeout(
            () => reject(new Deno.errors.TimedOut("connect timed out")),
            timeoutMs,
          )
        ),
      ]);
      conn.setNoDelay(true);
      const connection = new RemctlConnection(conn, gss, {
        where,
        ackOutput: options.ackOutput ?? true,
      });
      await connection.#handshake();
      return connection;
    } catch (error) {
      gss.close();
      try {
        conn?.close();
      } catch { /* already closed */ }
      if (error instanceof RemctlError) throw error;
      const kind = timedOut() ? "timeout" : errorKind(error);
      throw new RemctlError(
        `Cannot connect to the ${where}${
          kind === "timeout" ? ` within ${timeoutMs} ms` : ""
        }: ${message(error)}`,
        { kind, cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  async #handshake(): Promise<void> {
    await this.#conn.write(
      encodeToken(
        TOKEN_NOOP | TOKEN_CONTEXT_NEXT | TOKEN_PROTOCOL,
        new Uint8Array(0),
      ),
    );
    let token = this.#gss.step();
    for (;;) {
      if (token !== undefined) {
        await this.#conn.write(
          encodeToken(TOKEN_CONTEXT | TOKEN_PROTOCOL, token),
        );
      }
      if (this.#gss.established) break;
      const reply = await this.#reader.read();
      if ((reply.flags & TOKEN_PROTOCOL) === 0) {
        throw new RemctlError(
          `Cannot connect to the ${this.#where} as it speaks only remctl protocol version 1`,
          { kind: "protocol" },
        );
      }
      token = this.#gss.step(reply.payload);
    }
    if (!this.#gss.confidentialityAvailable || !this.#gss.integrityAvailable) {
      throw new RemctlError(
        `Cannot connect to the ${this.#where} as the GSS context offers no confidentiality or integrity`,
        { kind: "gss" },
      );
    }
    const limit = this.#gss.wrapSizeLimit(TOKEN_MAX_LENGTH - 5);
    this.#chunkData = Math.min(TOKEN_MAX_DATA, limit) - 4;
  }

  /** Where this connection goes, for messages. */
  get where(): string {
    return this.#where;
  }

  /** False once closed or broken; a closed connection cannot be reused. */
  get usable(): boolean {
    return !this.#closed;
  }

  /** Milliseconds since the last command or NOOP finished. */
  get idleMs(): number {
    return this.#busy ? 0 : performance.now() - this.#lastUsed;
  }

  /**
   * Runs one command. A server MESSAGE_ERROR (unknown command, access denied,
   * too much data) throws a `remote` {@linkcode RemctlError} and leaves the
   * connection open; any other failure closes it.
   */
  async run(
    args: readonly Uint8Array[],
    options: { timeoutMs: number },
  ): Promise<RemctlResult> {
    return await this.#exclusive(
      "run the command",
      options.timeoutMs,
      async () => {
        const tokens = commandMessages(args, {
          keepAlive: true,
          chunkData: this.#chunkData,
        }).map(
          (message) =>
            encodeToken(TOKEN_DATA | TOKEN_PROTOCOL, this.#gss.wrap(message)),
        );
        for (const token of tokens) await this.#writeAll(token);
        const stdout: Uint8Array[] = [];
        const stderr: Uint8Array[] = [];
        // See the module doc: one NOOP for the first OUTPUT (releases STATUS)
        // and one for the first late NOOP reply (releases this command's OUTPUT).
        let ackedOutput = false;
        let ackedReply = false;
        for (;;) {
          const message = await this.#readMessage();
          switch (message.type) {
            case "noop":
              if (this.#ackOutput && !ackedReply) {
                ackedReply = true;
                await this.#sendNoop();
              }
              break;
            case "output":
              (message.stream === 1 ? stdout : stderr).push(message.data);
              if (this.#ackOutput && this.#v3 && !ackedOutput) {
                ackedOutput = true;
                await this.#sendNoop();
              }
              break;
            case "status":
              return {
                status: message.status,
                stdout: concat(stdout),
                stderr: concat(stderr),
              };
            case "error":
              throw new RemctlError(
                `The ${this.#where} refused the command: ${
                  REMOTE_ERRORS[message.code] ?? `error ${message.code}`
                }: ${message.message}`,
                { kind: "remote", code: message.code },
              );
            default:
              throw new RemctlError(
                `The ${this.#where} sent an unexpected ${message.type} message during a command`,
                { kind: "protocol" },
              );
          }
        }
      },
    );
  }

  /** Sends a NOOP and reads its reply (protocol v3 servers). */
  async noop(options: { timeoutMs: number }): Promise<void> {
    await this.#exclusive(
      "keep the connection alive",
      options.timeoutMs,
      async () => {
        await this.#writeAll(this.#wrapToken(NOOP_MESSAGE));
        this.#pendingNoops++;
        await this.#drainNoops();
      },
    );
  }

  /** Sends MESSAGE_QUIT (best effort) and closes; safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#busy) {
      try {
        this.#conn.write(this.#wrapToken(QUIT_MESSAGE)).catch(() => {});
      } catch { /* the context may be unusable; closing is enough */ }
    }
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    this.#gss.close();
  }

  async #exclusive<T>(
    action: string,
    timeoutMs: number,
    work: () => Promise<T>,
  ): Promise<T> {
    if (this.#closed) {
      throw new RemctlError(
        `Cannot ${action} as the connection to the ${this.#where} is closed`,
        { kind: "transport" },
      );
    }
    if (this.#busy) {
      throw new RemctlError(
        `Cannot ${action} as the connection to the ${this.#where} is busy`,
        { kind: "protocol" },
      );
    }
    this.#busy = true;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        this.#conn.close();
      } catch { /* already closed */ }
    }, timeoutMs);
    try {
      return await work();
    } catch (error) {
      const remote = error instanceof RemctlError && error.kind === "remote";
      if (!remote) this.#busy = false, this.close();
      if (timedOut) {
        throw new RemctlError(
          `Cannot ${action} as the ${this.#where} did not answer within ${timeoutMs} ms`,
          { kind: "timeout", cause: error },
        );
      }
      if (error instanceof RemctlError) throw error;
      throw new RemctlError(
        `Cannot ${action} on the ${this.#where}: ${message(error)}`,
        { kind: errorKind(error), cause: error },
      );
    } finally {
      clearTimeout(timer);
      this.#busy = false;
      this.#lastUsed = performance.now();
    }
  }

  async #sendNoop(): Promise<void> {
    this.#pendingNoops++;
    await this.#writeAll(this.#wrapToken(NOOP_MESSAGE));
  }

  #wrapToken(message: Uint8Array): Uint8Array {
    return encodeToken(TOKEN_DATA | TOKEN_PROTOCOL, this.#gss.wrap(message));
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.byteLength) {
      offset += await this.#conn.write(bytes.subarray(offset));
    }
  }

  /** The next message; a NOOP only as the reply to one of ours. */
  async #readMessage(): Promise<ServerMessage> {
    for (;;) {
      const token = await this.#reader.read();
      if ((token.flags & TOKEN_DATA) === 0) {
        throw new RemctlError(
          `The ${this.#where} sent a token with flags 0x${
            token.flags.toString(16)
          } where a data token was expected`,
          { kind: "protocol" },
        );
      }
      const { data } = this.#gss.unwrap(token.payload);
      let decoded: ServerMessage;
      try {
        decoded = decodeServerMessage(data);
      } catch (error) {
        throw new RemctlError(
          `The ${this.#where} sent a malformed message: ${message(error)}`,
          { kind: "protocol", cause: error },
        );
      }
      if (decoded.type === "noop" && this.#pendingNoops > 0) {
        this.#pendingNoops--;
        return decoded;
      }
      if (decoded.type === "version" && this.#pendingNoops > 0) {
        // A version 2 server answers NOOP with MESSAGE_VERSION: stop sending it.
        this.#pendingNoops--;
        this.#v3 = false;
        continue;
      }
      return decoded;
    }
  }

  async #drainNoops(): Promise<void> {
    while (this.#pendingNoops > 0) {
      const token = await this.#reader.read();
      const message = decodeServerMessage(this.#gss.unwrap(token.payload).data);
      if (message.type !== "noop" && message.type !== "version") {
        throw new RemctlError(
          `The ${this.#where} answered a NOOP with a ${message.type} message`,
          { kind: "protocol" },
        );
      }
      if (message.type === "version") this.#v3 = false;
      this.#pendingNoops--;
    }
  }
}

function errorKind(error: unknown): "transport" | "gss" {
  return error instanceof Error && error.name === "GssError"
    ? "gss"
    : "transport";
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
