/**
 * How the stack runs moto_server: through `moto_fifo.py` beside this file,
 * which makes moto's SQS FIFO receive block a message group while any of its
 * messages is in flight, as AWS does (stock moto 5.2.1 takes the blocked
 * groups once per ReceiveMessage call, so a long poll hands out a group's
 * later message while an earlier one is in flight). Everything else is stock
 * moto; the module's docstring says exactly what it changes, and
 * `tests/moto_fifo_test.ts` shows stock moto differing from it.
 *
 * @module
 */

/** The patch module: `python3 moto_fifo.py [moto_server arguments]`. */
export const MOTO_FIFO_PATCH = new URL("./moto_fifo.py", import.meta.url)
  .pathname;

/**
 * The argv running moto's server with the FIFO patch: the `python3` beside
 * `motoServer` (moto's own interpreter, e.g. pyenv's shims) when there is
 * one, else `python3` from PATH.
 */
export function patchedMotoArgv(
  motoServer: string,
  args: readonly string[],
): string[] {
  const beside = `${motoServer.slice(0, motoServer.lastIndexOf("/"))}/python3`;
  let python = "python3";
  try {
    if (Deno.statSync(beside).isFile) python = beside;
  } catch {
    // moto_server's directory has no python3: PATH's.
  }
  return [python, MOTO_FIFO_PATCH, ...args];
}
