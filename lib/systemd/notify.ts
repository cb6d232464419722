/**
 * The systemd notification protocol (sd_notify): readiness, status, stopping,
 * start-up timeout extension and watchdog keep-alives, sent as datagrams to
 * the socket named by `NOTIFY_SOCKET`.
 *
 * @module
 */
import { getLogger } from "../log/mod.ts";
import { DatagramSender } from "./datagram.ts";
import { readEnv } from "../env.ts";
import { waitAtMost } from "../async.ts";

const logger = getLogger(["lib", "systemd"]);

/** The environment variables of the protocol. */
export const NOTIFY_ENV = [
  "NOTIFY_SOCKET",
  "WATCHDOG_USEC",
  "WATCHDOG_PID",
] as const;

/** How long `ready()` waits for its `beforeReady` hook. */
const BEFORE_READY_MS = 1000;

/** systemd reads at most 4096 bytes per notification; keep STATUS well below. */
const STATUS_MAX_CHARS = 1024;

/** Options for {@linkcode Notifier.fromEnv}. */
export interface NotifierFromEnvOptions {
  /**
   * Remove `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from this
   * process's environment so child processes do not inherit them (as
   * sd_notify's `unset_environment`). Applies only when the environment is
   * read from the process, not when one is passed in; needs write access to
   * those variables (`--allow-env`).
   * @default {false}
   */
  unsetEnvironment?: boolean;
  /** See {@linkcode NotifierOptions.beforeReady}. @default {undefined} */
  beforeReady?: () => Promise<void>;
}

/** Options for the {@linkcode Notifier} constructor. */
export interface NotifierOptions {
  /** The watchdog interval systemd expects (`WATCHDOG_USEC`); unset: no watchdog. */
  watchdogUsec?: number;
  /**
   * Awaited (for at most 1 s) before `READY=1` is sent, e.g. the log sink's
   * flush, so that what the service logged before it was ready reaches the
   * journal before systemd's own "Started" record.
   * @default {undefined}
   */
  beforeReady?: () => Promise<void>;
}

/** Options for {@linkcode Notifier.startWatchdog}. */
export interface WatchdogOptions {
  /**
   * Asked before every keep-alive: a ping is sent only while it returns true,
   * so systemd restarts a service that is alive but stuck. A throwing check
   * counts as unhealthy.
   * @default {() => true}
   */
  healthy?: () => boolean;
}

/**
 * Tells systemd about the service's state. Every method is a no-op when the
 * service was not started with `NOTIFY_SOCKET`, and none ever rejects because
 * of the socket: a failure is logged once (at warning) per run of failures.
 */
export class Notifier {
  #sender: DatagramSender | undefined;
  #watchdogUsec: number | undefined;
  #beforeReady: (() => Promise<void>) | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #pingPending = false;
  #failing = false;

  /**
   * Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from `env`
   * (default: the process environment; unreadable variables count as unset).
   * The watchdog is on when `WATCHDOG_USEC` is a positive integer and
   * `WATCHDOG_PID` is unset or this process's id.
   */
  static fromEnv(
    env?: Record<string, string | undefined>,
    options: NotifierFromEnvOptions = {},
  ): Notifier {
    const read = (name: string) => env ? env[name] : readEnv(name);
    const socket = read("NOTIFY_SOCKET") || undefined;
    const notifier = new Notifier(socket, {
      watchdogUsec: watchdogUsec(read("WATCHDOG_USEC"), read("WATCHDOG_PID")),
      beforeReady: options.beforeReady,
    });
    if (options.unsetEnvironment && env === undefined) {
      for (const name of NOTIFY_ENV) {
        try {
          Deno.env.delete(name);
        } catch (error) {
          logger.warning("Cannot unset {variable}: {error}", {
            variable: name,
            error: String(error),
          });
        }
      }
    }
    return notifier;
  }

  /**
   * A notifier sending to `socket` (a path, or `@name` for an abstract
   * socket); without a socket every method does nothing.
   */
  constructor(socket?: string, options: NotifierOptions = {}) {
    const usec = options.watchdogUsec;
    if (usec !== undefined && !(Number.isSafeInteger(usec) && usec > 0)) {
      throw new RangeError(
        `Cannot watch the service as the watchdog interval is not a positive number of microseconds: watchdogUsec is ${usec}`,
      );
    }
    this.#sender = socket ? new DatagramSender(socket) : undefined;
    this.#watchdogUsec = this.#sender ? usec : undefined;
    this.#beforeReady = options.beforeReady;
  }

  /** Whether notifications are sent at all (`NOTIFY_SOCKET` was set). */
  get enabled(): boolean {
    return this.#sender !== undefined && !this.#sender.closed;
  }

  /** The watchdog interval in microseconds systemd expects, if any. */
  get watchdogUsec(): number | undefined {
    return this.#watchdogUsec;
  }

  /** Sends `READY=1`, with a `STATUS=` line when `status` is given. */
  async ready(status?: string): Promise<void> {
    if (this.#beforeReady && this.enabled) {
      await waitAtMost(this.#beforeReady().catch(() => {}), BEFORE_READY_MS);
    }
    return this.#notify(withStatus("READY=1", status));
  }

  /** Sends `STATUS=` with `text` on one line (control characters become spaces). */
  status(text: string): Promise<void> {
    return this.#notify(withStatus(undefined, text));
  }

  /** Sends `STOPPING=1`, with a `STATUS=` line when `status` is given. */
  stopping(status?: string): Promise<void> {
    return this.#notify(withStatus("STOPPING=1", status));
  }

  /**
   * Sends `EXTEND_TIMEOUT_USEC=usec`: systemd allows that much more time from
   * now for start-up or stopping. Throws a RangeError at once for a negative
   * or non-finite `usec`.
   */
  extendTimeout(usec: number): Promise<void> {
    if (!Number.isFinite(usec) || usec < 0) {
      throw new RangeError(
        `Cannot extend the timeout as the time is not a non-negative number of microseconds: usec is ${usec}`,
      );
    }
    return this.#notify(`EXTEND_TIMEOUT_USEC=${Math.round(usec)}`);
  }

  /** Sends one watchdog keep-alive, `WATCHDOG=1`. */
  watchdog(): Promise<void> {
    return this.#notify("WATCHDOG=1");
  }

  /**
   * Sends `WATCHDOG=1` now and then every half of `WATCHDOG_USEC` while
   * `healthy()` is true. Does nothing without a watchdog interval. Calling it
   * again restarts the timer with the new options. The timer does not keep
   * the process alive.
   */
  startWatchdog(options: WatchdogOptions = {}): void {
    if (this.#watchdogUsec === undefined || !this.enabled) return;
    const healthy = options.healthy ?? (() => true);
    this.#stopWatchdog();
    const tick = () => {
      let ok = false;
      try {
        ok = healthy();
      } catch {
        ok = false;
      }
      // Skip a beat rather than queue pings behind a stuck socket.
      if (!ok || this.#pingPending) return;
      this.#pingPending = true;
      this.watchdog().finally(() => this.#pingPending = false);
    };
    const intervalMs = Math.max(1, Math.floor(this.#watchdogUsec / 2000));
    const timer = setInterval(tick, intervalMs);
    Deno.unrefTimer(timer);
    this.#timer = timer;
    tick();
  }

  /**
   * Stops the watchdog timer and closes the socket once notifications
   * already sent (such as an unawaited `stopping()`) are out. Idempotent.
   */
  close(): void {
    this.#stopWatchdog();
    void this.#sender?.close();
  }

  #stopWatchdog(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #notify(message: string): Promise<void> {
    const sender = this.#sender;
    if (sender === undefined || sender.closed) return;
    try {
      await sender.send(new TextEncoder().encode(message));
      this.#failing = false;
    } catch (error) {
      if (!this.#failing) {
        this.#failing = true;
        logger.warning(
          "Cannot notify systemd at {socket}: {error}; further failures are not logged until a notification succeeds",
          {
            socket: sender.socket,
            error: error instanceof Error ? error.message : String(error),
          },
        );
      }
    }
  }
}

function withStatus(first: string | undefined, status: string | undefined) {
  const lines = first === undefined ? [] : [first];
  if (status !== undefined) lines.push(`STATUS=${oneLine(status)}`);
  return lines.join("\n");
}

function oneLine(text: string): string {
  // deno-lint-ignore no-control-regex
  const flat = text.replace(/[\x00-\x1f\x7f]+/g, " ");
  if (flat.length <= STATUS_MAX_CHARS) return flat;
  return `${[...flat].slice(0, STATUS_MAX_CHARS - 1).join("")}…`;
}

function watchdogUsec(
  usec: string | undefined,
  pid: string | undefined,
): number | undefined {
  if (usec === undefined || usec === "") return undefined;
  if (pid !== undefined && pid !== "" && pid !== String(Deno.pid)) {
    return undefined;
  }
  const value = /^\d+$/.test(usec) ? Number(usec) : NaN;
  if (!Number.isSafeInteger(value) || value <= 0) {
    logger.warning(
      "Ignoring WATCHDOG_USEC as it is not a positive integer: value is {value}",
      { value: usec },
    );
    return undefined;
  }
  return value;
}
