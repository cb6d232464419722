/**
 * A real systemd-journald for tests, in private namespaces so nothing on the
 * host changes: `unshare` makes a new mount, PID and network namespace whose
 * first process (a shell) mounts a fresh /proc, tmpfs over /run and
 * /var/log/journal (with `mount -n`, so not even /run/mount/utab is written
 * on the host), writes a journald drop-in (volatile storage of up to 400 MB,
 * no kernel log, no forwarding, no rate limit) and starts /lib/systemd/systemd-journald.
 * Commands run inside with `nsenter`; entries are read back with
 * `journalctl -o json`.
 *
 * Teardown: the shell waits on its stdin; closing it (or the test process
 * dying, which closes the pipe) ends the shell, and with it, as PID 1 of the
 * namespace, every process inside; the mounts vanish with the namespace.
 * `unshare --kill-child` covers unshare itself being killed.
 *
 * Needs root and: unshare, nsenter, mount, journalctl, systemd-journald.
 *
 * @module
 */

const JOURNALD = "/lib/systemd/systemd-journald";

const INIT_SCRIPT = `
set -eu
read -r hostpid _ < /proc/self/stat
mount -n -t proc proc /proc
mount -n -t tmpfs -o mode=0755,size=512m tmpfs /run
if [ -d /var/log/journal ]; then
  mount -n -t tmpfs -o mode=2755,size=16m tmpfs /var/log/journal
fi
mkdir -p /run/systemd/journald.conf.d /run/log/journal
cat > /run/systemd/journald.conf.d/zz-wgsync-test.conf <<'EOF'
[Journal]
Storage=volatile
ReadKMsg=no
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
RateLimitIntervalSec=0
RateLimitBurst=0
RuntimeMaxUse=400M
RuntimeKeepFree=0
RuntimeMaxFileSize=100M
EOF
SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_COLOR=no ${JOURNALD} \\
  > "$1/journald.log" 2>&1 < /dev/null &
i=0
until [ -S /run/systemd/journal/socket ] && [ -S /run/systemd/journal/io.systemd.journal ]; do
  i=$((i + 1))
  if [ "$i" -gt 1000 ]; then echo "journald did not start" >&2; exit 3; fi
  sleep 0.01
done
echo "ready $hostpid"
read -r _ || true
`;

/** What a command run inside the namespace did. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for {@linkcode Journald.run}. */
export interface RunOptions {
  /** Environment variables besides PATH, HOME and DENO_DIR. */
  env?: Record<string, string>;
  /** Text written to the command's stdin. */
  stdin?: string;
  /** @default {60_000} */
  timeoutMs?: number;
}

/** A journal entry as `journalctl -o json` prints it. */
export type JsonEntry = Record<string, string | number[] | unknown[] | null>;

/** A systemd-journald running in its own namespaces. */
export class Journald implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #stderr: Promise<string>;
  #stopped = false;
  /** A temporary directory shared with the host (journald's log is in it). */
  readonly dir: string;
  /** The host's id of the namespace's first process (for nsenter). */
  readonly pid: number;

  private constructor(
    child: Deno.ChildProcess,
    stdin: WritableStreamDefaultWriter<Uint8Array>,
    stderr: Promise<string>,
    dir: string,
    pid: number,
  ) {
    this.#child = child;
    this.#stdin = stdin;
    this.#stderr = stderr;
    this.dir = dir;
    this.pid = pid;
  }

  /** Starts journald in new namespaces and waits until its sockets exist. */
  static async start(): Promise<Journald> {
    const dir = await Deno.makeTempDir({ prefix: "wgsync-journald-" });
    const child = new Deno.Command("unshare", {
      args: [
        "--mount",
        "--propagation",
        "private",
        "--pid",
        "--fork",
        "--kill-child",
        "--net",
        "sh",
        "-c",
        INIT_SCRIPT,
        "sh",
        dir,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stdin = child.stdin.getWriter();
    const stderr = new Response(child.stderr).text();
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let line = "";
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("journald did not start within 15 s")),
        15_000,
      );
    });
    try {
      while (!line.includes("\n")) {
        const { value, done } = await Promise.race([reader.read(), timeout]);
        if (done) break;
        line += value;
      }
    } catch (error) {
      await stdin.close().catch(() => {});
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await child.status;
      await stderr;
      await Deno.remove(dir, { recursive: true });
      throw error;
    } finally {
      clearTimeout(timer);
      reader.releaseLock();
    }
    child.stdout.cancel().catch(() => {});
    const match = /^ready (\d+)$/m.exec(line);
    if (!match) {
      await stdin.close().catch(() => {});
      const status = await child.status;
      const log = await Deno.readTextFile(`${dir}/journald.log`).catch(() =>
        ""
      );
      await Deno.remove(dir, { recursive: true });
      throw new Error(
        `Cannot start journald in a namespace: exit ${status.code}, stderr ${
          JSON.stringify(await stderr)
        }, journald log ${JSON.stringify(log)}`,
      );
    }
    return new Journald(child, stdin, stderr, dir, Number(match[1]));
  }

  /** Runs a command inside the namespaces (mount, PID, network). */
  async run(
    command: string,
    args: string[],
    options: RunOptions = {},
  ): Promise<RunResult> {
    const env: Record<string, string> = {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/root",
      ...options.env,
    };
    const denoDir = Deno.env.get("DENO_DIR");
    if (denoDir) env.DENO_DIR = denoDir;
    const child = new Deno.Command("nsenter", {
      args: [
        "--target",
        String(this.pid),
        "--mount",
        "--pid",
        "--net",
        "--",
        command,
        ...args,
      ],
      clearEnv: true,
      env,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin ?? ""));
    await writer.close();
    const output = await child.output();
    return {
      code: output.code,
      stdout: new TextDecoder().decode(output.stdout),
      stderr: new TextDecoder().decode(output.stderr),
    };
  }

  /**
   * The entries matching journalctl `matches` (e.g. `SYSLOG_IDENTIFIER=x`),
   * after asking journald to write out everything it received; long and
   * binary fields in full (`--all`).
   */
  async entries(matches: string[] = []): Promise<JsonEntry[]> {
    const sync = await this.run("journalctl", ["--sync"]);
    if (sync.code !== 0) {
      throw new Error(`journalctl --sync failed: ${sync.stderr}`);
    }
    const result = await this.run("journalctl", [
      "-o",
      "json",
      "--all",
      "--no-pager",
      ...matches,
    ]);
    if (result.code !== 0 && !result.stderr.includes("No entries")) {
      throw new Error(`journalctl failed (${result.code}): ${result.stderr}`);
    }
    return result.stdout
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => JSON.parse(line) as JsonEntry);
  }

  /** What journald itself logged (its stderr). */
  log(): Promise<string> {
    return Deno.readTextFile(`${this.dir}/journald.log`).catch(() => "");
  }

  /** Ends the namespace (journald and all) and removes the directory. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#stdin.close().catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      this.#child.status.then(() => true),
      new Promise<false>((resolve) =>
        timer = setTimeout(() => resolve(false), 5000)
      ),
    ]);
    clearTimeout(timer);
    if (!exited) {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await this.#child.status;
    }
    await this.#stderr;
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /** Same as {@linkcode Journald.stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/** A field's value as text; journalctl gives non-UTF-8 or binary data as bytes. */
export function fieldText(entry: JsonEntry, name: string): string | undefined {
  const value = entry[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (value.every((item) => typeof item === "number")) {
    return new TextDecoder().decode(new Uint8Array(value as number[]));
  }
  throw new Error(`Field ${name} appears ${value.length} times in the entry`);
}
