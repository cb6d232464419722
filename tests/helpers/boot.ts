/**
 * A REAL systemd as PID 1 in namespaces, for the boot test (recipe and
 * DANGER list of ENVIRONMENT.md, followed to the letter):
 *
 * - its own cgroup directory `/sys/fs/cgroup/unified/wgsync-boot-*`, entered
 *   before `unshare --cgroup`, and a fresh cgroup2 mount inside; removed
 *   (deepest first) after poweroff;
 * - `unshare --pid --fork --kill-child=SIGKILL --mount --propagation private
 *   --uts --ipc --cgroup`, NOT `--net`: the services reach the local stack
 *   the test started on the host's 127.0.0.1 (a stack inside the namespace
 *   would have to be started by systemd too). Capabilities that reach
 *   outside the namespaces are dropped from PID 1's bounding set
 *   (net_admin, net_raw, sys_time, sys_module, ...);
 * - root = overlayfs (lower `/`, upper on a tmpfs), fresh `/proc` with
 *   `/proc/sys` read-only, `/sys` read-only, its own `/dev` (tmpfs + mknod,
 *   devpts newinstance, `/dev/console` a pty of its own drained to
 *   `console.log`), tmpfs `/run` and `/tmp`, new `/etc/machine-id`, an empty
 *   `/etc/fstab`, `pivot_root`;
 * - `env -i container=...` and `--unit=` a target of the test's own
 *   (`wgsync-boot.target`: sysinit only), never multi-user.target; timers,
 *   getty and the image's enabled daemons are masked as well.
 *
 * wgsync is put into the root by `tasks/deploy.ts install --root` and the
 * system users by `systemd-sysusers --root`, before PID 1 starts.
 *
 * @module
 */

import { BOOT_TARGET, DROPPED_CAPABILITIES, ENTER } from "./boot_sandbox.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const decoder = new TextDecoder();

/**
 * The child of `unshare` that runs systemd, once it does. Read with cat(1): Deno wants
 * --allow-all to read another process's /proc entries.
 */
async function systemdChild(unshare: number): Promise<number | undefined> {
  const read = async (path: string) =>
    decoder.decode(
      (await new Deno.Command("cat", { args: [path], stderr: "null" }).output())
        .stdout,
    ).trim();
  // Its children: the guardian shell and PID 1 of the sandbox.
  const children = (await read(`/proc/${unshare}/task/${unshare}/children`))
    .split(" ").map(Number).filter((pid) => pid > 0);
  for (const pid of children) {
    if ((await read(`/proc/${pid}/comm`)) === "systemd") return pid;
  }
  return undefined;
}

function signalPid(pid: number, name: string): void {
  new Deno.Command("kill", {
    args: ["-s", name, String(pid)],
    stdout: "null",
    stderr: "null",
  }).outputSync();
}

/** The outcome of a command inside the sandbox. */
export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@linkcode BootedSystem.boot}. */
export interface BootOptions {
  /** The artifacts of `deno task compile` to install. */
  dist: string;
  /** Fills the directory copied over the root before boot (config, keys, drop-ins). */
  stage(dir: string): Promise<void>;
}

/** A running systemd in its sandbox; {@linkcode shutdown} ends it. */
export class BootedSystem {
  readonly work: string;
  readonly name: string;
  readonly pid1: number;
  readonly #cgroup: string;
  readonly #child: Deno.ChildProcess;

  private constructor(
    work: string,
    name: string,
    pid1: number,
    cgroup: string,
    child: Deno.ChildProcess,
  ) {
    this.work = work;
    this.name = name;
    this.pid1 = pid1;
    this.#cgroup = cgroup;
    this.#child = child;
  }

  /** Prepares the root, starts PID 1 and waits until its boot target is reached. */
  static async boot(options: BootOptions): Promise<BootedSystem> {
    const work = await Deno.makeTempDir({ prefix: "wgsync-boot-" });
    const name = work.split("/").pop()!;
    const stage = `${work}/stage`;
    await Deno.mkdir(`${work}/ns`);
    await Deno.mkdir(`${stage}/etc/systemd/system`, { recursive: true });
    await Deno.writeTextFile(
      `${stage}/etc/systemd/system/wgsync-boot.target`,
      BOOT_TARGET,
    );
    await options.stage(stage);
    const cgroup = `/sys/fs/cgroup/unified/${name}`;
    // A guardian outside the sandbox's cgroup: if the test process dies
    // without shutdown() (SIGKILL, Ctrl-C), it kills the sandbox (unshare
    // --kill-child takes the PID namespace along) and removes the cgroup.
    const script = `mkdir "$6"
(
  while kill -0 "$7" 2>/dev/null; do sleep 1; done
  kill -KILL $$ 2>/dev/null
  for i in 1 2 3 4 5 6 7 8 9 10; do
    [ -d "$6" ] || exit 0
    find "$6" -depth -type d -exec rmdir {} + 2>/dev/null
    sleep 0.5
  done
) </dev/null >/dev/null 2>&1 &
echo $! > "$1/guardian.pid"
echo $$ > "$6/cgroup.procs"
exec unshare --pid --fork --kill-child=SIGKILL --mount --propagation private --uts --ipc --cgroup /bin/sh -c "$0" enter "$1" "$2" "$3" "$4" "$5"`;
    const child = new Deno.Command("/bin/sh", {
      args: [
        "-c",
        script,
        ENTER,
        work,
        ROOT.replace(/\/$/, ""),
        options.dist,
        name,
        DROPPED_CAPABILITIES.map((cap) => `-${cap}`).join(","),
        cgroup,
        String(Deno.pid),
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    child.stderr.pipeTo(
      (await Deno.open(`${work}/enter.log`, { write: true, create: true }))
        .writable,
    ).catch(() => {});
    let pid1: number | undefined;
    let exited = false;
    child.status.then(() => exited = true);
    const deadline = Date.now() + 180_000;
    while (pid1 === undefined) {
      if (exited || Date.now() > deadline) {
        signalPid(child.pid, "KILL");
        await child.status;
        await BootedSystem.#removeCgroup(cgroup);
        await BootedSystem.#stopGuardian(work);
        throw new Error(
          `Cannot find the sandbox's PID 1 (${
            exited ? "the sandbox exited" : "timed out"
          }): see ${work}/enter.log`,
        );
      }
      pid1 = await systemdChild(child.pid);
      if (pid1 === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    const system = new BootedSystem(work, name, pid1, cgroup, child);
    const running = await system.waitUntil(async () => {
      const state = await system.run("systemctl", ["is-system-running"]);
      return ["running", "degraded"].includes(state.stdout.trim());
    }, 60_000);
    if (!running) {
      await system.shutdown();
      throw new Error(`The sandbox did not finish booting: see ${work}`);
    }
    return system;
  }

  /** Runs a command inside every namespace of PID 1. */
  async run(command: string, args: string[]): Promise<Output> {
    const output = await new Deno.Command("nsenter", {
      args: ["--target", String(this.pid1), "--all", "--", command, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  }

  /** `systemctl ARGS` inside; throws when it fails. */
  async systemctl(...args: string[]): Promise<string> {
    const output = await this.run("systemctl", args);
    if (output.code !== 0) {
      throw new Error(
        `systemctl ${args.join(" ")} exited ${output.code}: ${output.stderr}`,
      );
    }
    return output.stdout;
  }

  /** Properties of a unit (`systemctl show -p ...`). */
  async show(
    unit: string,
    properties: readonly string[],
  ): Promise<Record<string, string>> {
    const text = await this.systemctl(
      "show",
      unit,
      ...properties.map((name) => `--property=${name}`),
    );
    const values: Record<string, string> = {};
    for (const line of text.split("\n")) {
      const at = line.indexOf("=");
      if (at > 0) values[line.slice(0, at)] = line.slice(at + 1);
    }
    return values;
  }

  /** The journal records matching `args` (e.g. `["-u", unit]`), parsed. */
  async journal(args: string[]): Promise<Record<string, unknown>[]> {
    const output = await this.run("journalctl", [
      "-o",
      "json",
      "--no-pager",
      ...args,
    ]);
    return output.stdout.split("\n").filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line));
  }

  /** `stat` of a path inside the sandbox: mode (octal text), owner uid, size. */
  async stat(
    path: string,
  ): Promise<{ mode: string; uid: number; user: string; size: number }> {
    const output = await this.run("stat", ["-c", "%a %u %U %s", path]);
    if (output.code !== 0) {
      throw new Error(`Cannot stat "${path}" in the sandbox: ${output.stderr}`);
    }
    const [mode, uid, user, size] = output.stdout.trim().split(" ");
    return { mode, uid: Number(uid), user, size: Number(size) };
  }

  /** The bytes of a file inside the sandbox. */
  async read(path: string): Promise<Uint8Array> {
    const output = await new Deno.Command("nsenter", {
      args: ["--target", String(this.pid1), "--all", "--", "cat", path],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!output.success) {
      throw new Error(
        `Cannot read "${path}" in the sandbox: ${
          decoder.decode(output.stderr)
        }`,
      );
    }
    return output.stdout;
  }

  /** Polls `check` every 200 ms until true or `ms` passed; returns the last result. */
  async waitUntil(check: () => Promise<boolean>, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (await check()) return true;
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** Powers off (SIGRTMIN+4 to PID 1), waits, and removes the cgroup directory. */
  async shutdown(): Promise<void> {
    signalPid(this.pid1, "RTMIN+4");
    const stopped = await Promise.race([
      this.#child.status.then(() => true),
      new Promise<boolean>((resolve) =>
        setTimeout(() => resolve(false), 30_000)
      ),
    ]);
    if (!stopped) {
      // unshare --kill-child takes the whole PID namespace with it.
      signalPid(this.#child.pid, "KILL");
      await this.#child.status;
    }
    await BootedSystem.#removeCgroup(this.#cgroup);
    await BootedSystem.#stopGuardian(this.work);
  }

  static async #stopGuardian(work: string): Promise<void> {
    const pid = Number(
      (await Deno.readTextFile(`${work}/guardian.pid`).catch(() => "")).trim(),
    );
    if (pid > 0) signalPid(pid, "KILL");
  }

  /** Removes the sandbox's cgroup directory, deepest first (retried while it empties). */
  static async #removeCgroup(cgroup: string): Promise<void> {
    const output = await new Deno.Command("/bin/sh", {
      args: [
        "-c",
        'for i in 1 2 3 4 5 6 7 8 9 10; do [ -d "$0" ] || exit 0; find "$0" -depth -type d -exec rmdir {} + 2>/dev/null; sleep 0.2; done; exit 1',
        cgroup,
      ],
    }).output();
    if (!output.success) {
      throw new Error(
        `Cannot remove the sandbox's cgroup: path is "${cgroup}"`,
      );
    }
  }
}
