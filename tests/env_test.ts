/** lib/env.ts readEnv in a real process granted only some variables. */
import assert from "node:assert/strict";
import { readEnv } from "../lib/env.ts";

const HELPER = new URL("./helpers/read_env.ts", import.meta.url).pathname;

Deno.test("a variable the process was not granted reads as unset; a granted one reads its value", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--frozen",
      "--cached-only",
      "--no-prompt",
      "--allow-env=WGSYNC_GRANTED,WGSYNC_UNSET",
      HELPER,
      "WGSYNC_GRANTED",
      "WGSYNC_SECRET",
      "WGSYNC_UNSET",
    ],
    env: { WGSYNC_GRANTED: "yes", WGSYNC_SECRET: "no" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(new TextDecoder().decode(output.stderr), "");
  assert.deepEqual(
    JSON.parse(new TextDecoder().decode(output.stdout)),
    ["yes", null, null],
  );
});

Deno.test("an invalid variable name is still an error", () => {
  assert.throws(() => readEnv("A=B"), { name: "TypeError" });
});
