/**
 * `deno task local`: runs the whole pipeline locally on real components.
 * Starts the local stack in `.stack/` (slapd, MIT KDC, k5start, remctld,
 * moto), validates `.stack/wgsync.toml` with every role that exists, starts
 * the pipeline's services that exist, says which are still missing, and runs
 * until Ctrl-C; then stops everything it started. `--once` stops right away
 * (for a quick check).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ROLE_PERMISSIONS, type RoleName } from "../lib/permissions.ts";
import { permissionFlags } from "../lib/permissions.ts";
import { down, up } from "./stack/mod.ts";

/** The pipeline's long-running services, in start order, and the issue that adds each. */
const PIPELINE: readonly [string, string][] = [
  ["event", "the Event Generator"],
  ["ldap", "the LDAP Consumer (issue 5)"],
  ["remctl", "the Remctl Generator"],
  ["web", "the web site"],
];

const { values } = parseArgs({
  options: { once: { type: "boolean" }, dir: { type: "string" } },
});
const dir = values.dir ?? new URL("../.stack", import.meta.url).pathname;

await down(dir);
const stack = await up(dir);
console.log(`Local stack in ${dir}:`);
console.log(
  `  slapd      ${stack.ldap.url} (GSSAPI as ${stack.principals.ldapClient})`,
);
console.log(`  KDC        127.0.0.1:${stack.kdc.port}, realm ${stack.realm}`);
console.log(
  `  remctld    ${stack.remctl.host}:${stack.remctl.port} (calls land in ${stack.remctl.callsFile})`,
);
console.log(`  AWS (moto) ${stack.aws.endpoint}`);
console.log(`  config     ${stack.config}`);

const roles = Object.keys(ROLE_PERMISSIONS) as RoleName[];
let failed = false;
for (const role of roles) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--cached-only",
      ...permissionFlags(role, { extraRead: [dir] }),
      new URL(`../roles/${role}.ts`, import.meta.url).pathname,
      "--config",
      stack.config,
      "--check-config",
    ],
  }).output();
  failed ||= !output.success;
}

const children: Deno.ChildProcess[] = [];
for (const [role, what] of PIPELINE) {
  if (!(roles as string[]).includes(role)) {
    console.log(`  wgsync-${role}: not built yet (${what}); not started`);
    continue;
  }
  children.push(
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--cached-only",
        ...permissionFlags(role as RoleName, {
          extraRead: [dir],
          extraWrite: [dir],
        }),
        new URL(`../roles/${role}.ts`, import.meta.url).pathname,
        "--config",
        stack.config,
      ],
    }).spawn(),
  );
  console.log(`  wgsync-${role}: started`);
}

if (!values.once && !failed) {
  console.log("Running; Ctrl-C stops everything.");
  await new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGINT", resolve);
    Deno.addSignalListener("SIGTERM", resolve);
  });
}
for (const child of children) child.kill("SIGTERM");
await Promise.all(children.map((child) => child.status));
await down(dir);
console.log(`Stopped the local stack in ${dir}.`);
Deno.exit(failed ? 1 : 0);
