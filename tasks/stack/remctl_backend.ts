/**
 * The demo backend command remctld runs for `wgsync demo ...`: appends one
 * JSON line per call (argv, standard input — remctld's `stdin=last` puts the
 * last argument there —, the calling principal from REMOTE_USER) to the
 * file named by WGSYNC_DEMO_CALLS, so a person or a test can see what
 * downstream received. The stack's targets pass every placeholder
 * (`DEMO_ARGUMENTS` in config.ts), so each record holds the event's `{id}`,
 * `{csn}` and `{seq}` — what a downstream de-duplicates and orders by. Exits with the number held in WGSYNC_DEMO_EXIT_FILE
 * when that file exists (lets tests simulate a failing downstream); 1 and 255
 * are refused because remctl itself uses them. Waits the milliseconds held
 * in WGSYNC_DEMO_DELAY_FILE first when that file exists (a slow downstream,
 * so that tests can kill wgsync-remctl while a command runs).
 *
 * @module
 */

const callsFile = Deno.env.get("WGSYNC_DEMO_CALLS");
const exitFile = Deno.env.get("WGSYNC_DEMO_EXIT_FILE");
if (callsFile === undefined || exitFile === undefined) {
  console.error(
    "Cannot record the call as WGSYNC_DEMO_CALLS or WGSYNC_DEMO_EXIT_FILE is not set",
  );
  Deno.exit(2);
}

let exitCode = 0;
try {
  const text = Deno.readTextFileSync(exitFile).trim();
  exitCode = Number(text);
  if (
    !Number.isInteger(exitCode) || exitCode < 0 || exitCode > 254 ||
    exitCode === 1
  ) {
    console.error(
      `Cannot use the exit code in "${exitFile}": "${text}" is not an integer from 0 to 254 other than 1`,
    );
    exitCode = 2;
  }
} catch (error) {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
}

const delayFile = Deno.env.get("WGSYNC_DEMO_DELAY_FILE");
if (delayFile !== undefined) {
  try {
    const delay = Number(Deno.readTextFileSync(delayFile).trim());
    if (Number.isFinite(delay) && delay > 0) {
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

const stdin = await new Response(Deno.stdin.readable).text();
const record = {
  time: new Date().toISOString(),
  command: Deno.env.get("REMCTL_COMMAND") ?? null,
  argv: Deno.args,
  stdin,
  principal: Deno.env.get("REMOTE_USER") ?? null,
  remoteAddr: Deno.env.get("REMOTE_ADDR") ?? null,
  exitCode,
};
Deno.writeTextFileSync(callsFile, JSON.stringify(record) + "\n", {
  append: true,
});
Deno.exit(exitCode);
