/**
 * Runs a role against the local stack in `.stack/` (started when it is not
 * running), with exactly the role's permissions plus the stack directory.
 *
 *   deno task dev:ldap --stdout     # print the LDAP consumer's events
 *   deno task dev:ldap              # send them to wgsync-event's socket
 *   deno task dev:event             # wgsync-event: the channel socket to SNS
 *
 * Arguments after the role name are passed on to the role; `--config` is the
 * stack's `wgsync.toml`. `KRB5_CONFIG` points at the stack's realm (MIT
 * GSSAPI reads it itself).
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { ROLE_PERMISSIONS, type RoleName } from "../lib/permissions.ts";
import { roleCommand } from "./launch.ts";
import { down, readStackInfo, type StackInfo, up } from "./stack/mod.ts";
import { isRunning } from "./stack/process.ts";

/** The development stack's directory. */
export const DEV_STACK_DIR = fileURLToPath(
  new URL("../.stack", import.meta.url),
);

/** Returns the running stack in `dir`, starting it (again) when any part is down. */
export async function ensureStack(dir: string): Promise<StackInfo> {
  let info: StackInfo | undefined;
  try {
    info = await readStackInfo(dir);
  } catch {
    // No stack there yet.
  }
  if (info !== undefined && info.processes.every(isRunning)) return info;
  if (info !== undefined) {
    console.error(`dev: part of the stack in ${dir} is down; restarting it`);
    await down(dir);
  }
  return await up(dir);
}

if (import.meta.main) {
  const [role, ...args] = Deno.args;
  if (!(role in ROLE_PERMISSIONS)) {
    console.error(
      `Usage: deno run -A tasks/dev.ts ROLE [role options]; ROLE is one of ${
        Object.keys(ROLE_PERMISSIONS).join(", ")
      }, got ${JSON.stringify(role ?? "")}`,
    );
    Deno.exit(64);
  }
  const info = await ensureStack(DEV_STACK_DIR);
  if (role === "ldap" && !args.includes("--stdout")) {
    console.error(
      `dev: events go to the channel socket of ${info.config}; without wgsync-event listening there the role waits (use --stdout to print them)`,
    );
  }
  const child = roleCommand(role as RoleName, {
    args: ["--config", info.config, ...args],
    extraRead: [info.dir],
    extraWrite: [info.dir],
    env: { KRB5_CONFIG: info.krb5Config },
  }).spawn();
  for (const name of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(name, () => child.kill(name));
  }
  const status = await child.status;
  Deno.exit(status.code);
}
