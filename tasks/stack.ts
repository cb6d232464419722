/**
 * `deno task stack up DIR [--groups G --members M --people P]` starts the
 * local stack inside DIR and prints its stack.json on stdout;
 * `deno task stack down DIR` stops it. Progress and timings go to stderr.
 * `restart-slapd`, `stop-slapd` and `start-slapd DIR` act on slapd alone
 * (same config and data) and update DIR/stack.json.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  down,
  readStackInfo,
  restartSlapd,
  startSlapdOf,
  stopSlapdOf,
  up,
} from "./stack/mod.ts";

const USAGE = `Usage:
  deno task stack up DIR [--groups G] [--members M] [--people P]
  deno task stack down DIR
  deno task stack restart-slapd|stop-slapd|start-slapd DIR`;

const SLAPD_ACTIONS = {
  "restart-slapd": restartSlapd,
  "stop-slapd": stopSlapdOf,
  "start-slapd": startSlapdOf,
};

function count(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(number)) {
    throw new Error(`--${name} is "${value}": expected a positive integer`);
  }
  return number;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      groups: { type: "string" },
      members: { type: "string" },
      people: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [action, dir] = positionals;
  const actions = ["up", "down", ...Object.keys(SLAPD_ACTIONS)];
  if (values.help || positionals.length !== 2 || !actions.includes(action)) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  if (action === "down") {
    const stopped = await down(dir);
    console.error(`stack: stopped ${stopped} process(es) in ${dir}`);
    return 0;
  }
  if (action in SLAPD_ACTIONS) {
    const info = await readStackInfo(dir);
    await SLAPD_ACTIONS[action as keyof typeof SLAPD_ACTIONS](info);
    console.error(`stack: ${action} done (slapd pid ${info.ldap.pid})`);
    return 0;
  }
  const options = {
    groups: count("groups", values.groups),
    members: count("members", values.members),
    people: count("people", values.people),
  };
  const controller = new AbortController();
  const abort = () => {
    console.error("stack: interrupted, stopping what was started");
    controller.abort(new Error("up was interrupted by a signal"));
  };
  Deno.addSignalListener("SIGINT", abort);
  Deno.addSignalListener("SIGTERM", abort);
  const info = await up(dir, { ...options, signal: controller.signal });
  Deno.removeSignalListener("SIGINT", abort);
  Deno.removeSignalListener("SIGTERM", abort);
  console.log(JSON.stringify(info, null, 2));
  return 0;
}

try {
  Deno.exit(await main());
} catch (error) {
  console.error(`stack: ${error instanceof Error ? error.message : error}`);
  if (error instanceof Error && error.cause !== undefined) {
    console.error(`  cause: ${error.cause}`);
  }
  Deno.exit(1);
}
