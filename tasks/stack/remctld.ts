/**
 * remctld in standalone mode with one demo command, `wgsync demo`, allowed
 * for the remctl generator's principal; the backend records each call in
 * `DIR/remctl-calls.jsonl`.
 *
 * @module
 */

import type { StackContext } from "./context.ts";
import { baseEnv } from "./layout.ts";
import { startDaemon, waitForPort } from "./process.ts";
import type { StackProcess } from "./types.ts";

/** The remctl command and subcommand the demo backend answers. */
export const DEMO_COMMAND = { command: "wgsync", subcommand: "demo" };

/**
 * Two more commands for `deno task bench:remctl`: one that prints a line
 * (`/bin/echo`) and one that prints nothing (`/bin/true`).
 */
export const BENCH_COMMANDS = {
  output: ["wgsync", "bench-output"],
  quiet: ["wgsync", "bench-quiet"],
};

/** Options of {@linkcode startRemctld}. */
export interface RemctldOptions {
  port: number;
  /** Keytab of `host/localhost` (remctld's acceptor key). */
  hostKeytab: string;
  /** The only principal allowed to run the demo command. */
  clientPrincipal: string;
}

/** Files of the running remctld. */
export interface Remctld {
  process: StackProcess;
  configFile: string;
  exitCodeFile: string;
  delayFile: string;
  logFile: string;
}

/** Writes the remctl config and the demo backend wrapper, starts remctld and waits for its port. */
export async function startRemctld(
  context: StackContext,
  options: RemctldOptions,
): Promise<Remctld> {
  const { layout, programs } = context;
  const backend = `${layout.remctl}/demo-backend`;
  const configFile = `${layout.remctl}/remctl.conf`;
  const exitCodeFile = `${layout.remctl}/demo-exit-code`;
  const delayFile = `${layout.remctl}/demo-delay-ms`;
  const logFile = `${layout.logs}/remctld.log`;
  const script = new URL("./remctl_backend.ts", import.meta.url).pathname;
  await Deno.writeTextFile(
    backend,
    `#!/bin/sh
WGSYNC_DEMO_CALLS=${shellQuote(layout.callsFile)} \\
WGSYNC_DEMO_EXIT_FILE=${shellQuote(exitCodeFile)} \\
WGSYNC_DEMO_DELAY_FILE=${shellQuote(delayFile)} \\
exec ${shellQuote(Deno.execPath())} run --no-config --no-lock --no-prompt \\
  --allow-env --allow-read=${shellQuote(exitCodeFile)},${
      shellQuote(delayFile)
    } \\
  --allow-write=${shellQuote(layout.callsFile)} ${shellQuote(script)} "$@"
`,
    { mode: 0o755 },
  );
  await Deno.chmod(backend, 0o755);
  // stdin=last: the demo's last argument (wgsync-remctl's {members}) reaches
  // the backend on standard input, as one argv string is capped at 128 KiB.
  const acl = `princ:${options.clientPrincipal}`;
  await Deno.writeTextFile(
    configFile,
    [
      `${DEMO_COMMAND.command} ${DEMO_COMMAND.subcommand} ${backend} stdin=last ${acl}`,
      `${BENCH_COMMANDS.output.join(" ")} /bin/echo ${acl}`,
      `${BENCH_COMMANDS.quiet.join(" ")} /bin/true ${acl}`,
      "",
    ].join("\n"),
  );
  const env = baseEnv(layout);
  env.KRB5_KTNAME = `FILE:${options.hostKeytab}`;
  const process = await startDaemon("remctld", [
    programs.remctld,
    "-F",
    "-m",
    "-S",
    "-b",
    "127.0.0.1",
    "-p",
    String(options.port),
    "-f",
    configFile,
    "-s",
    "host/localhost",
    "-k",
    options.hostKeytab,
    "-P",
    `${layout.run}/remctld.pid`,
  ], { env, logFile, track: context.track });
  await waitForPort(options.port, process, { logFile });
  return { process, configFile, exitCodeFile, delayFile, logFile };
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
