/** Prints `readEnv` of each argument as JSON (null for undefined); for tests/env_test.ts. */
import { readEnv } from "../../lib/env.ts";

console.log(JSON.stringify(Deno.args.map((name) => readEnv(name) ?? null)));
