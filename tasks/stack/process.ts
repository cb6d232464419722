/**
 * Starting, watching and stopping the stack's processes. Daemons are started
 * detached (their own session, re-parented away from the caller) with output
 * in a log file, so they outlive `up`. A process is identified by PID and its
 * start time from /proc, so `down` never signals a recycled PID.
 *
 * @module
 */

import { StackError } from "./errors.ts";
import type { StackProcess } from "./types.ts";
import { setTimeout as delay } from "node:timers/promises";

/** Options of {@linkcode runCommand}. */
export interface RunOptions {
  /** Full environment of the command (the caller's is not inherited). */
  env: Record<string, string>;
  /** Text written to the command's stdin; default none (stdin is /dev/null). */
  stdin?: string;
}

/** Runs a command to completion and returns its stdout; throws StackError with its stderr on a non-zero exit. */
export async function runCommand(
  argv: string[],
  options: RunOptions,
): Promise<string> {
  const command = new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: options.env,
    clearEnv: true,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
  let child: Deno.ChildProcess;
  try {
    child = command.spawn();
  } catch (error) {
    throw new StackError(`Cannot run "${argv[0]}"`, { cause: error });
  }
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim();
    throw new StackError(
      `Command failed with exit code ${output.code}: ${
        argv.join(" ")
      }\n${stderr}`,
    );
  }
  return stdout;
}

/** Options of {@linkcode startDaemon}. */
export interface DaemonOptions {
  /** Full environment of the daemon. */
  env: Record<string, string>;
  /** File receiving the daemon's stdout and stderr (appended). */
  logFile: string;
  /** Called with the process as soon as it runs, before any wait (so a failed start can still be cleaned up). */
  track: (process: StackProcess) => void;
}

/**
 * Starts a long-running program in the background, detached from the caller
 * (new session; the intermediate shell exits so the program is re-parented),
 * stdin from /dev/null and output appended to `logFile`.
 */
export async function startDaemon(
  name: string,
  argv: string[],
  options: DaemonOptions,
): Promise<StackProcess> {
  const script = 'log=$1; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!';
  const stdout = await runCommand(
    ["/bin/sh", "-c", script, "sh", options.logFile, ...argv],
    { env: options.env },
  );
  const pid = Number(stdout.trim());
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new StackError(
      `Cannot start ${name}: the shell printed "${stdout.trim()}" instead of a PID`,
    );
  }
  const stat = readStat(pid);
  if (stat === undefined) {
    throw new StackError(
      `Cannot start ${name}: it exited at once; see ${options.logFile}:\n${
        tailLog(options.logFile)
      }`,
    );
  }
  const process = { name, pid, startTime: stat.startTime };
  options.track(process);
  return process;
}

/** Describes a process that forked itself (e.g. k5start -b) from the PID it wrote. */
export function adoptProcess(
  name: string,
  pid: number,
): StackProcess | undefined {
  const stat = readStat(pid);
  return stat === undefined
    ? undefined
    : { name, pid, startTime: stat.startTime };
}

interface ProcStat {
  state: string;
  startTime: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: split after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0], startTime: Number(fields[19]) };
}

/** Whether the process still runs (same PID and start time, not a zombie). */
export function isRunning(process: StackProcess): boolean {
  const stat = readStat(process.pid);
  return stat !== undefined && stat.startTime === process.startTime &&
    stat.state !== "Z" && stat.state !== "X";
}

/** Options of {@linkcode stopProcesses}. */
export interface StopOptions {
  /** Milliseconds to wait after SIGTERM before SIGKILL; default 5000. */
  timeoutMs?: number;
}

/**
 * Sends SIGTERM to each process still running and waits until all have exited,
 * escalating to SIGKILL after `timeoutMs`. Processes already gone are skipped,
 * so calling it twice is harmless.
 */
export async function stopProcesses(
  processes: StackProcess[],
  options: StopOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 5000;
  signalAll(processes, "SIGTERM");
  const deadline = Date.now() + timeoutMs;
  while (processes.some(isRunning)) {
    if (Date.now() > deadline) {
      signalAll(processes, "SIGKILL");
      await waitUntil(() => !processes.some(isRunning), 2000);
      break;
    }
    await delay(5);
  }
  const left = processes.filter(isRunning);
  if (left.length > 0) {
    throw new StackError(
      `Cannot stop ${left.map((p) => `${p.name} (pid ${p.pid})`).join(", ")}`,
    );
  }
}

function signalAll(
  processes: StackProcess[],
  signal: Deno.Signal,
): void {
  for (const process of processes) {
    if (!isRunning(process)) continue;
    try {
      Deno.kill(process.pid, signal);
    } catch {
      // Exited between the check and the signal.
    }
  }
}

/** Options of {@linkcode waitForPort}. */
export interface WaitForPortOptions {
  /** Milliseconds to wait; default 15000. */
  timeoutMs?: number;
  /** The log to quote when the process exits or the wait times out. */
  logFile: string;
}

/** Waits until something accepts TCP connections on 127.0.0.1:port, failing early if `process` exits. */
export async function waitForPort(
  port: number,
  process: StackProcess,
  options: WaitForPortOptions,
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 15000);
  while (true) {
    if (!isRunning(process)) {
      throw new StackError(
        `${process.name} exited before listening on 127.0.0.1:${port}; see ${options.logFile}:\n${
          tailLog(options.logFile)
        }`,
      );
    }
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      throw new StackError(
        `${process.name} did not listen on 127.0.0.1:${port} in time; see ${options.logFile}:\n${
          tailLog(options.logFile)
        }`,
      );
    }
    await delay(5);
  }
}

/** Returns `count` distinct TCP ports on 127.0.0.1 that were free a moment ago. */
export function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((listener) =>
    (listener.addr as Deno.NetAddr).port
  );
  for (const listener of listeners) listener.close();
  return ports;
}

/** Polls `check` every 5 ms until it returns true or `timeoutMs` passes; returns the last result. */
export async function waitUntil(
  check: () => boolean,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await delay(5);
  }
  return true;
}

/** The last lines of a log file, or a note that it cannot be read. */
export function tailLog(path: string, lines = 20): string {
  try {
    return Deno.readTextFileSync(path).trimEnd().split("\n").slice(-lines)
      .join("\n");
  } catch {
    return `(cannot read ${path})`;
  }
}
