/**
 * `deno task bench:remctl [--commands N] [--group-messages M] [--groups G] [--keep]`
 *
 * Starts a local stack in a temporary directory and measures, in the same
 * run, N commands of each kind — one that prints a line (`wgsync
 * bench-output`, /bin/echo) and one that prints nothing (`wgsync
 * bench-quiet`, /bin/true) — through:
 *
 * - the anchor: N sequential `remctl` CLI calls (a process and a new GSS
 *   context each);
 * - wgsync-remctl's client (`RemctlPool`, kept-open protocol v3 connections)
 *   at concurrency 1 and 8;
 * - `libremctl` through FFI (one kept-open connection, synchronous calls) —
 *   the alternative the client was chosen against — and on 8 kept-open
 *   connections at once, one worker thread each: what remctld sustains with
 *   libremctl as the client, the ceiling for any client on this machine when
 *   the server is the bound (for the command with output libremctl itself
 *   waits about 40 ms a call, so there it is not).
 *
 * Prints commands/s and per-command latency p50/p99 for each, and the goals
 * (concurrency 8 at least 10× the CLI's rate; concurrency 1 latency under a
 * third of the CLI's), never asserted. Then the per-group rate of the
 * consumer (`--group-messages M`, default 200, over 1 and `--groups G`
 * groups, default 8) beside sequential CLI calls of the same demo command
 * (tasks/bench/remctl_group.ts). The machine may be loaded: compare
 * figures of the same run only.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { RemctlPool } from "../lib/wgsync_remctl/mod.ts";
import { down, type StackInfo, up } from "./stack/mod.ts";
import { BENCH_COMMANDS } from "./stack/remctld.ts";
import { remctlCliCall } from "./bench/remctl_cli.ts";
import { formatGroupRate, groupRate } from "./bench/remctl_group.ts";
import {
  LibremctlConnection,
  libremctlParallel,
  type LibremctlTarget,
} from "./bench/remctl_ffi.ts";

interface Figures {
  rate: number;
  p50: number;
  p99: number;
}

const encoder = new TextEncoder();

function figures(latencies: number[], elapsedMs: number): Figures {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return {
    rate: (latencies.length / elapsedMs) * 1000,
    p50: at(0.5),
    p99: at(0.99),
  };
}

async function cli(
  stack: StackInfo,
  argv: string[],
  n: number,
): Promise<Figures> {
  const latencies: number[] = [];
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    latencies.push(await remctlCliCall(stack, argv));
  }
  return figures(latencies, performance.now() - started);
}

async function client(
  stack: StackInfo,
  argv: string[],
  n: number,
  concurrency: number,
): Promise<Figures> {
  const pool = new RemctlPool({
    host: stack.remctl.host,
    port: stack.remctl.port,
    principal: stack.remctl.service,
    ccache: stack.ccaches.remctlClient,
  });
  const args = argv.map((arg) => encoder.encode(arg));
  try {
    // Open the connections first: the benchmark is of commands, not of opens.
    await Promise.all(
      Array.from(
        { length: concurrency },
        () => pool.run(args, { timeoutMs: 10_000 }),
      ),
    );
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next++ < n) {
        const t = performance.now();
        const result = await pool.run(args, { timeoutMs: 10_000 });
        if (result.status !== 0) {
          throw new Error(`${argv.join(" ")} exited ${result.status}`);
        }
        latencies.push(performance.now() - t);
      }
    }));
    return figures(latencies, performance.now() - started);
  } finally {
    pool.close();
  }
}

/** libremctl through FFI, synchronous calls on one kept-open connection. */
function libremctl(
  target: LibremctlTarget,
  argv: string[],
  n: number,
): Figures {
  const connection = new LibremctlConnection(target);
  try {
    connection.run(argv);
    const latencies: number[] = [];
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      connection.run(argv);
      latencies.push(performance.now() - t);
    }
    return figures(latencies, performance.now() - started);
  } finally {
    connection.close();
  }
}

function line(name: string, f: Figures): string {
  return `  ${name.padEnd(34)} ${
    f.rate.toFixed(0).padStart(6)
  } commands/s   p50 ${f.p50.toFixed(2).padStart(7)} ms   p99 ${
    f.p99.toFixed(2).padStart(7)
  } ms`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      commands: { type: "string", default: "200" },
      "group-messages": { type: "string", default: "200" },
      groups: { type: "string", default: "8" },
      keep: { type: "boolean", default: false },
    },
  });
  const n = Number(values.commands);
  const dir = await Deno.makeTempDir({ prefix: "wgsync-bench-remctl-" });
  const stack = await up(dir, { log: () => {} });
  Deno.env.set("KRB5_CONFIG", stack.krb5Config);
  try {
    console.log(
      `bench:remctl — ${n} commands per measurement, stack in ${dir}; load average ${
        Deno.loadavg().join(" ")
      }`,
    );
    for (
      const [kind, argv] of [["with output", [
        ...BENCH_COMMANDS.output,
        "hello",
      ]], ["without output", BENCH_COMMANDS.quiet]] as const
    ) {
      if (n === 0) break; // --commands 0: only the per-group section
      const anchor = await cli(stack, [...argv], n);
      const one = await client(stack, [...argv], n, 1);
      const eight = await client(stack, [...argv], n, 8);
      const target: LibremctlTarget = {
        host: stack.remctl.host,
        port: stack.remctl.port,
        service: stack.remctl.service,
        ccache: stack.ccaches.remctlClient,
      };
      const ffi = libremctl(target, [...argv], n);
      const parallel = await libremctlParallel(target, [...argv], {
        n,
        connections: 8,
      });
      const ceiling = figures(parallel.latencies, parallel.elapsedMs);
      console.log(`\ncommand ${kind} (${argv.join(" ")}):`);
      console.log(line("remctl CLI, sequential (anchor)", anchor));
      console.log(line("wgsync-remctl client, concurrency 1", one));
      console.log(line("wgsync-remctl client, concurrency 8", eight));
      console.log(line("libremctl FFI, sync, kept open", ffi));
      console.log(line("libremctl FFI, 8 connections at once", ceiling));
      console.log(
        `  goals: concurrency 8 ≥ 10× the CLI's rate: ${
          (eight.rate / anchor.rate).toFixed(1)
        }×; concurrency 1 p50 < 1/3 of the CLI's: ${
          (one.p50 / anchor.p50).toFixed(2)
        } of it; libremctl on 8 connections at once (remctld's own rate when the server is the bound): ${
          (ceiling.rate / anchor.rate).toFixed(1)
        }× the CLI's; concurrency 8 ${
          (eight.rate / ceiling.rate).toFixed(2)
        }× that`,
      );
    }
    console.log(formatGroupRate(
      await groupRate(stack, {
        messages: Number(values["group-messages"]),
        groups: Number(values.groups),
      }),
    ));
  } finally {
    await down(dir);
    if (!values.keep) await Deno.remove(dir, { recursive: true });
  }
}
