/**
 * One kept-open remctl connection (protocol v3) on `lib/gssapi`: the GSS
 * context is established once and reused for every command.
 *
 * Why not `libremctl` through FFI: both were measured against the stack's
 * remctld (`deno task bench:remctl` runs both). libremctl names the ticket
 * cache safely (`remctl_set_ccache` only stores the name; `remctl_open`
 * imports it with `krb5_cc_resolve` + `gss_krb5_import_cred`, never through
 * KRB5CCNAME: 0 crashes in 80 opens on empty, corrupt, missing and expired
 * caches, where the `remctl` CLI with KRB5CCNAME on an empty cache crashed
 * 5 of 15 times), but its calls block a thread (concurrency needs
 * `nonblocking: true`, a thread-pool thread per call), its timeout is per
 * socket operation rather than per command, and it cannot avoid remctld's
 * 40 ms stall on every command with output. Written here, a connection is an
 * ordinary async socket, the timeout covers the whole command, and the stall
 * goes away:
 *
 * remctld writes OUTPUT and then STATUS as two small segments; Nagle holds
 * STATUS until OUTPUT is acknowledged, and the client's kernel delays that
 * ACK up to 40 ms since the client has nothing to send. So as soon as OUTPUT
 * arrives this client sends the empty start of its NEXT command (a
 * MESSAGE_COMMAND with continue status 1 and no data, which the server
 * buffers without answering): its segment carries the ACK, STATUS leaves at
 * once, and the next command is sent as the continuation (status 3) of that
 * start. An idle connection so started is closed with MESSAGE_QUIT, which
 * the protocol allows in the middle of a continued command. (A v3 NOOP
 * instead only moves the stall: its reply is one more small segment.)
 * Measured at concurrency 1: a command with output from p50 44 ms to 1.5 ms.
 *
 * @module
 */

import { GssInitiator } from "../gssapi/mod.ts";
import {
  commandMessages,
  decodeServerMessage,
  EMPTY_COMMAND_START,
  encodeToken,
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
  /** Send the empty start of the next command when OUTPUT arrives (see the module doc). @default {true} */
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
  /** Argument bytes per MESSAGE_COMMAND: 64 KiB of wrap input less the 4-octet header. */
  #chunkData = TOKEN_MAX_DATA - 4;
  /** An empty continued command was sent: the next command continues it. */
  #started = false;
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

  /** Milliseconds since the last command finished. */
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
          continued: this.#started,
        }).map(
          (message) =>
            encodeToken(TOKEN_DATA | TOKEN_PROTOCOL, this.#gss.wrap(message)),
        );
        this.#started = false;
        for (const token of tokens) await this.#writeAll(token);
        const stdout: Uint8Array[] = [];
        const stderr: Uint8Array[] = [];
        for (;;) {
          const message = await this.#readMessage();
          switch (message.type) {
            case "output":
              (message.stream === 1 ? stdout : stderr).push(message.data);
              if (this.#ackOutput && !this.#started) {
                // See the module doc: its segment carries the ACK remctld's
                // STATUS waits for, and the server answers it with nothing.
                this.#started = true;
                await this.#writeAll(this.#wrapToken(EMPTY_COMMAND_START));
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

  #wrapToken(message: Uint8Array): Uint8Array {
    return encodeToken(TOKEN_DATA | TOKEN_PROTOCOL, this.#gss.wrap(message));
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.byteLength) {
      offset += await this.#conn.write(bytes.subarray(offset));
    }
  }

  /** The next message. */
  async #readMessage(): Promise<ServerMessage> {
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
    try {
      return decodeServerMessage(data);
    } catch (error) {
      throw new RemctlError(
        `The ${this.#where} sent a malformed message: ${message(error)}`,
        { kind: "protocol", cause: error },
      );
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
