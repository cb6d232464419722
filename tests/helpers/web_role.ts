/**
 * wgsync-web for tests: the role run as a subprocess with exactly its
 * permissions (plus the stack's directory) inside the mount namespace of a
 * real journald ({@linkcode Journald}) — so its structured log goes to that
 * journald over the native protocol — and its PID namespace (Deno needs
 * `/proc/self`), but in the host's network namespace (it must reach moto and
 * be reached by Chromium). `nsenter` does not pass signals on, so a shell in
 * the namespace sends SIGTERM to the role when its stdin is closed and exits
 * with the role's status. `NOTIFY_SOCKET` is a real datagram socket; the
 * role is ready when `READY=1` arrived.
 *
 * @module
 */
import { roleArgv } from "../../tasks/launch.ts";
import { DatagramListener } from "./datagram_listener.ts";
import type { Journald } from "./journald.ts";

/** A running wgsync-web. */
export class WebRole {
  #child: Deno.ChildProcess;
  #stderr = "";
  #reader: Promise<void>;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly notify: DatagramListener;
  readonly notifyDir: string;

  private constructor(
    child: Deno.ChildProcess,
    notify: DatagramListener,
    notifyDir: string,
  ) {
    this.#child = child;
    this.#stdin = child.stdin.getWriter();
    this.notify = notify;
    this.notifyDir = notifyDir;
    this.#reader = (async () => {
      for await (
        const chunk of child.stderr.pipeThrough(new TextDecoderStream())
      ) {
        this.#stderr += chunk;
      }
    })();
  }

  /** Starts the role on `config` and waits for `READY=1`. */
  static async start(
    journald: Journald,
    options: { config: string; stackDir: string; timeoutMs?: number },
  ): Promise<WebRole> {
    const notifyDir = await Deno.makeTempDir({ prefix: "wgsync-web-notify-" });
    const socket = `${notifyDir}/notify`;
    const notify = new DatagramListener(socket);
    const [deno, ...args] = roleArgv("web", {
      args: ["--config", options.config],
      extraRead: [options.stackDir],
      extraWrite: [options.stackDir, socket],
    });
    const child = new Deno.Command("nsenter", {
      args: [
        "--target",
        String(journald.pid),
        "--mount",
        "--pid",
        "--",
        "sh",
        "-c",
        'trap "" INT TERM; "$@" & pid=$!; read -r _; kill -TERM "$pid"; wait "$pid"',
        "sh",
        deno,
        ...args,
      ],
      env: { NOTIFY_SOCKET: socket, NO_COLOR: "1" },
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const role = new WebRole(child, notify, notifyDir);
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    while (!notify.messages.some((m) => m.split("\n").includes("READY=1"))) {
      if (Date.now() > deadline) {
        await role.stop();
        throw new Error(
          `wgsync-web sent no READY=1 within the time: stderr ${role.stderr}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return role;
  }

  /** What the role wrote on stderr. */
  get stderr(): string {
    return this.#stderr;
  }

  /** SIGTERM (through the shell); waits for the exit and returns the exit code. */
  async stop(): Promise<number> {
    await this.#stdin.close().catch(() => {});
    const status = await this.#child.status;
    await this.#reader;
    await this.notify.close();
    await Deno.remove(this.notifyDir, { recursive: true });
    return status.code;
  }
}
