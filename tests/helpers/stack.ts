/**
 * The local stack for tests: real KDC, k5start, slapd, remctld and moto.
 *
 * ```ts
 * import { getStack } from "./helpers/stack.ts";
 * Deno.test("...", async () => {
 *   const stack = await getStack();      // shared by the whole test process
 *   // stack.ldap.gssapiUrl, stack.ccaches.ldapClient, stack.aws.endpoint ...
 * });
 * ```
 *
 * `getStack()` starts one stack lazily per test process; `startStack()` starts
 * an isolated one (e.g. to restart slapd). Every stack is stopped and its
 * temporary directory removed when the process unloads, even when tests fail
 * (set WGSYNC_KEEP_STACK=1 to keep the directories for debugging). A
 * detached guardian shell per stack does the same within about a second if
 * the test process dies without `unload` (Ctrl-C, SIGKILL).
 *
 * The stack runs in a `deno run --allow-all tasks/stack.ts` subprocess, so the
 * test itself needs only: --allow-run (deno), --allow-read (stack.json, the
 * deno binary path), --allow-write for the temporary directory, and
 * --allow-env=WGSYNC_KEEP_STACK.
 *
 * @module
 */

import type { DataOptions, StackInfo } from "../../tasks/stack/types.ts";

export type { StackInfo } from "../../tasks/stack/types.ts";

/** An isolated stack owned by one test. */
export interface StackHandle {
  info: StackInfo;
  /** Stops every process of the stack and removes its directory; safe to call twice. */
  down(): Promise<void>;
  /** Stops slapd and starts it with the same config and data (updates `info.ldap.pid`). */
  restartSlapd(): Promise<void>;
  /** Stops slapd only (e.g. to test a consumer's reconnect); `startSlapd()` brings it back. */
  stopSlapd(): Promise<void>;
  /** Starts slapd again after `stopSlapd()` (updates `info.ldap.pid`). */
  startSlapd(): Promise<void>;
}

const ROOT = new URL("../../", import.meta.url).pathname;
const keep = Deno.env.get("WGSYNC_KEEP_STACK") === "1";
/** Stack directories still to clean up → the `up` subprocess while it runs, and the guardian's PID. */
const live = new Map<
  string,
  { starting?: Deno.ChildProcess; guardian?: number }
>();
const STACK_ARGS = [
  "run",
  "--frozen",
  "--cached-only",
  "--allow-all",
  "--config",
  `${ROOT}deno.json`,
  `${ROOT}tasks/stack.ts`,
];
let shared: Promise<StackInfo> | undefined;

addEventListener("unload", stopAllSync);

function stopAllSync(): void {
  for (const [dir, { starting, guardian }] of live) {
    signal(starting?.pid, "SIGTERM");
    stackCommand(["down", dir]).outputSync();
    if (!keep) removeSync(dir);
    signal(guardian, "SIGKILL");
  }
  live.clear();
}

/**
 * Starts a detached shell that waits for this test process to end (in any
 * way: Ctrl-C and SIGKILL skip `unload`), then for the `up` process, then
 * stops the stack and removes its directory. Returns the guardian's PID.
 */
async function startGuardian(dir: string, upPid: number): Promise<number> {
  const down = [Deno.execPath(), ...STACK_ARGS, "down", dir];
  const script = `(
    while kill -0 "$1" 2>/dev/null; do sleep 1; done
    while kill -0 "$2" 2>/dev/null; do sleep 0.2; done
    shift 3
    "$@" >/dev/null 2>&1
    [ "$KEEP" = 1 ] || rm -rf "$DIR"
  ) </dev/null >/dev/null 2>&1 & echo $!`;
  const output = await new Deno.Command("/bin/sh", {
    args: ["-c", script, "sh", String(Deno.pid), String(upPid), dir, ...down],
    env: { DIR: dir, KEEP: keep ? "1" : "0" },
    cwd: ROOT,
    detached: true,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  return Number(new TextDecoder().decode(output.stdout).trim());
}

/** The stack shared by this test process (sample data), started on first use. */
export function getStack(): Promise<StackInfo> {
  shared ??= startIn({});
  return shared;
}

/** The shared stack, with its krb5.conf in KRB5_CONFIG for GSSAPI in this process. */
export async function getKerberosStack(): Promise<StackInfo> {
  const stack = await getStack();
  Deno.env.set("KRB5_CONFIG", stack.krb5Config);
  return stack;
}

/** Starts an isolated stack (sample data unless sizes are given) for one test. */
export async function startStack(
  options: DataOptions = {},
): Promise<StackHandle> {
  const info = await startIn(options);
  const slapd = async (action: string) => {
    await runStack([action, info.dir]);
    const saved: StackInfo = JSON.parse(
      await Deno.readTextFile(`${info.dir}/stack.json`),
    );
    Object.assign(info, saved);
  };
  return {
    info,
    down: async () => {
      if (!live.has(info.dir)) return;
      await runStack(["down", info.dir]);
      signal(live.get(info.dir)?.guardian, "SIGKILL");
      live.delete(info.dir);
      if (!keep) await Deno.remove(info.dir, { recursive: true });
    },
    restartSlapd: () => slapd("restart-slapd"),
    stopSlapd: () => slapd("stop-slapd"),
    startSlapd: () => slapd("start-slapd"),
  };
}

async function startIn(options: DataOptions): Promise<StackInfo> {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-stack-" });
  const sizes = Object.entries(options).flatMap(([name, value]) =>
    value === undefined ? [] : [`--${name}`, String(value)]
  );
  const child = stackCommand(["up", dir, ...sizes]).spawn();
  live.set(dir, { starting: child });
  const guardian = await startGuardian(dir, child.pid);
  live.set(dir, { starting: child, guardian });
  const output = await child.output();
  live.set(dir, { guardian });
  const stderr = new TextDecoder().decode(output.stderr);
  if (!output.success) {
    throw new Error(`Cannot start the local stack in "${dir}":\n${stderr}`);
  }
  const info: StackInfo = JSON.parse(new TextDecoder().decode(output.stdout));
  console.error(
    `stack: up in ${info.timings.total} ms (${dir}${keep ? ", kept" : ""})`,
  );
  return info;
}

function stackCommand(args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: [...STACK_ARGS, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

async function runStack(args: string[]): Promise<void> {
  const output = await stackCommand(args).output();
  if (!output.success) {
    throw new Error(
      `"stack ${args.join(" ")}" failed:\n${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
}

/**
 * Sends a signal through kill(1): `Deno.kill` needs unscoped `--allow-run`,
 * which the test task does not grant. Synchronous, so it works on `unload`.
 */
export function signal(pid: number | undefined, name: Deno.Signal): void {
  if (pid === undefined || !(pid > 0)) return;
  // A process that already exited makes kill fail; nothing to do then.
  new Deno.Command("kill", {
    args: ["-s", name.replace(/^SIG/, ""), String(pid)],
    stdout: "null",
    stderr: "null",
  }).outputSync();
}

function removeSync(dir: string): void {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch {
    // A process stopped a moment ago may still be writing; leave the rest.
  }
}
