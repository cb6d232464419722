/**
 * One `remctl` CLI call as a whole process against the stack's remctld, with
 * the stack's client ticket cache: the anchor of `bench:remctl`'s sections.
 *
 * @module
 */

import type { StackInfo } from "../stack/types.ts";

/** Runs `remctl HOST ARGV...` once, output discarded; its wall time in ms. Throws on a non-zero exit. */
export async function remctlCliCall(
  stack: StackInfo,
  argv: string[],
): Promise<number> {
  const started = performance.now();
  const { code } = await new Deno.Command("remctl", {
    args: [
      "-p",
      String(stack.remctl.port),
      "-s",
      stack.remctl.service,
      stack.remctl.host,
      ...argv,
    ],
    env: {
      KRB5_CONFIG: stack.krb5Config,
      KRB5CCNAME: `FILE:${stack.ccaches.remctlClient}`,
    },
    stdout: "null",
    stderr: "null",
  }).output();
  if (code !== 0) throw new Error(`remctl ${argv.join(" ")} exited ${code}`);
  return performance.now() - started;
}
