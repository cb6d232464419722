/**
 * The kept-open connections of one remctl target: a command takes an idle
 * connection (or opens one), gives it back when it stays usable, and
 * connections idle longer than `idleMs` are closed. A reused connection the
 * server closed meanwhile (its idle timeout) fails with a transport error
 * before any answer; that command is retried once on a new connection.
 *
 * @module
 */

import {
  RemctlConnection,
  type RemctlConnectionOptions,
  type RemctlResult,
} from "./connection.ts";
import { RemctlError } from "./errors.ts";

/** Options of {@linkcode RemctlPool}. */
export interface RemctlPoolOptions extends RemctlConnectionOptions {
  /** Close connections idle this long, in milliseconds. @default {30000} */
  idleMs?: number;
}

/** Connections to one remctl server, reused across commands. */
export class RemctlPool {
  #options: RemctlPoolOptions;
  #idle: RemctlConnection[] = [];
  #timer: ReturnType<typeof setInterval>;
  #closed = false;

  /** Opens nothing yet: the first command opens the first connection. */
  constructor(options: RemctlPoolOptions) {
    this.#options = options;
    const idleMs = options.idleMs ?? 30_000;
    this.#timer = setInterval(
      () => this.#closeIdle(idleMs),
      Math.min(idleMs, 5_000),
    );
    Deno.unrefTimer(this.#timer);
  }

  /** Connections open and idle now. */
  get idleConnections(): number {
    return this.#idle.length;
  }

  /** Runs one command on a kept-open connection; throws a {@linkcode RemctlError}. */
  async run(
    args: readonly Uint8Array[],
    options: { timeoutMs: number },
  ): Promise<RemctlResult> {
    let connection = this.#take();
    const reused = connection !== undefined;
    connection ??= await this.#open();
    try {
      return await connection.run(args, options);
    } catch (error) {
      if (
        !reused || !(error instanceof RemctlError) || error.kind !== "transport"
      ) {
        throw error;
      }
      connection = await this.#open();
      return await connection.run(args, options);
    } finally {
      this.#give(connection);
    }
  }

  /** Opens a connection and closes it again: checks server, principal and ticket cache. */
  async probe(): Promise<void> {
    const connection = this.#take() ?? await this.#open();
    this.#give(connection);
  }

  /** Closes every connection; later commands fail. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const connection of this.#idle.splice(0)) connection.close();
  }

  async #open(): Promise<RemctlConnection> {
    if (this.#closed) {
      throw new RemctlError(
        `Cannot connect to remctl server ${this.#options.host} as the client is closed`,
        { kind: "transport" },
      );
    }
    return await RemctlConnection.open(this.#options);
  }

  #take(): RemctlConnection | undefined {
    while (this.#idle.length > 0) {
      const connection = this.#idle.pop()!;
      if (connection.usable) return connection;
    }
    return undefined;
  }

  #give(connection: RemctlConnection): void {
    if (this.#closed || !connection.usable) connection.close();
    else this.#idle.push(connection);
  }

  #closeIdle(idleMs: number): void {
    this.#idle = this.#idle.filter((connection) => {
      if (connection.usable && connection.idleMs < idleMs) return true;
      connection.close();
      return false;
    });
  }
}
