/**
 * k5start daemons keeping one ticket cache per client principal alive, as the
 * `wgsync-*-keytab` units do in production.
 *
 * @module
 */

import type { StackContext } from "./context.ts";
import { StackError } from "./errors.ts";
import { baseEnv } from "./layout.ts";
import { adoptProcess, runCommand, tailLog, waitUntil } from "./process.ts";
import type { StackProcess } from "./types.ts";

/** Options of {@linkcode startK5start}. */
export interface K5startOptions {
  /** Keytab holding exactly the client principal (k5start -U takes its first principal). */
  keytab: string;
  /** Ticket cache file to keep fresh. */
  ccache: string;
}

/**
 * Runs `k5start -b -U -f KEYTAB -K 10 -l 1h -k CCACHE -p PIDFILE`; `-b` forks
 * only after the first kinit succeeded, so the cache is usable on return.
 */
export async function startK5start(
  context: StackContext,
  name: string,
  options: K5startOptions,
): Promise<StackProcess> {
  const { layout, programs } = context;
  const pidFile = `${layout.run}/${name}.pid`;
  const logFile = `${layout.logs}/${name}.log`;
  const argv = [
    programs.k5start,
    "-b",
    "-U",
    "-f",
    options.keytab,
    "-K",
    "10",
    "-l",
    "1h",
    "-k",
    options.ccache,
    "-p",
    pidFile,
  ];
  try {
    await runCommand(
      [
        "/bin/sh",
        "-c",
        'log=$1; shift; exec "$@" >>"$log" 2>&1',
        "sh",
        logFile,
        ...argv,
      ],
      { env: baseEnv(layout) },
    );
  } catch (error) {
    throw new StackError(
      `Cannot get a ticket from keytab "${options.keytab}" with k5start; see ${logFile}:\n${
        tailLog(logFile)
      }`,
      { cause: error },
    );
  }
  let process: StackProcess | undefined;
  await waitUntil(() => {
    try {
      const pid = Number(Deno.readTextFileSync(pidFile).trim());
      process = pid > 0 ? adoptProcess(name, pid) : undefined;
    } catch {
      process = undefined;
    }
    return process !== undefined;
  }, 5000);
  if (process === undefined) {
    throw new StackError(
      `k5start did not write a running PID to "${pidFile}"; see ${logFile}`,
    );
  }
  context.track(process);
  return process;
}
