/**
 * Peak RSS figures of `deno task bench:refresh`: one refresh in a fresh
 * process of the task (`--child` or `--child-store`), VmRSS before and VmHWM
 * after it from /proc, beside ldapsearch's maximum RSS under /usr/bin/time.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { SyncClient } from "../../lib/ldap/mod.ts";
import type { StackInfo } from "../stack/types.ts";
import { ldapsearchArgs, run, type Target, target } from "./common.ts";

/** The task's entry, run again as the child process. */
const SELF = fileURLToPath(
  new URL("../bench_refresh.ts", import.meta.url),
);

/** VmRSS before and VmHWM after a child's refresh, in KiB. */
export interface RssFigures {
  rssBeforeKiB: number;
  hwmKiB: number;
}

/**
 * Runs one refresh in a fresh process of the task (`mode` is `--child` or
 * `--child-store`) and ldapsearch under /usr/bin/time; both peak RSS figures.
 */
export async function childAndLdapsearchRss<M>(
  stack: StackInfo,
  mode: string,
  attributes: string[],
): Promise<{ child: M & RssFigures; ldapsearchKiB: number }> {
  const out = await run(Deno.execPath(), [
    "run",
    "--frozen",
    "--cached-only",
    "--allow-all",
    SELF,
    mode,
    JSON.stringify(target(stack, false)),
  ]);
  const time = await new Deno.Command("/usr/bin/time", {
    args: [
      "-f",
      "%M",
      "ldapsearch",
      ...ldapsearchArgs(stack, false, attributes),
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  return {
    child: JSON.parse(out),
    ldapsearchKiB: Number(
      new TextDecoder().decode(time.stderr).trim().split("\n").at(-1),
    ),
  };
}

/** A `kB` field of /proc/self/status (VmRSS, VmHWM). */
export function procStatusKiB(field: string): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
  if (!match) throw new Error(`no ${field} in /proc/self/status`);
  return Number(match[1]);
}

/** A first tiny search warms the code paths so VmRSS before the refresh is the base line. */
export async function warmUp(t: Target): Promise<void> {
  const warm = new SyncClient({
    url: t.url,
    bind: t.bind,
    baseDN: t.base,
    scope: "base",
    mode: "refreshOnly",
    reconnect: { maxAttempts: 1 },
  });
  for await (const _ of warm.sync()) { /* drain */ }
  await warm.close();
}
