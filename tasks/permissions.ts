/**
 * Keeps the roles' shebang lines equal to `lib/permissions.ts`.
 *
 *   deno task permissions          # check; exit 1 and list differences
 *   deno task permissions --write  # rewrite the shebang lines
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import {
  ROLE_PERMISSIONS,
  type RoleName,
  shebang,
} from "../lib/permissions.ts";

/** The longest shebang line Linux passes on whole (BINPRM_BUF_SIZE - 1). */
export const MAX_SHEBANG_BYTES = 255;

/** The path of a role's module. */
export function roleModule(role: RoleName): string {
  return fileURLToPath(new URL(`../roles/${role}.ts`, import.meta.url));
}

/** Lines describing every role whose shebang differs from its permissions. */
export function shebangProblems(): string[] {
  const problems: string[] = [];
  for (const role of Object.keys(ROLE_PERMISSIONS) as RoleName[]) {
    const wanted = shebang(role);
    if (new TextEncoder().encode(wanted).length > MAX_SHEBANG_BYTES) {
      problems.push(
        `roles/${role}.ts: the shebang would exceed ${MAX_SHEBANG_BYTES} bytes, which Linux truncates`,
      );
    }
    const found = Deno.readTextFileSync(roleModule(role)).split("\n")[0];
    if (found !== wanted) {
      problems.push(
        `roles/${role}.ts: shebang is ${JSON.stringify(found)}, expected ${
          JSON.stringify(wanted)
        }`,
      );
    }
  }
  return problems;
}

function writeShebangs(): void {
  for (const role of Object.keys(ROLE_PERMISSIONS) as RoleName[]) {
    const path = roleModule(role);
    const lines = Deno.readTextFileSync(path).split("\n");
    if (lines[0].startsWith("#!")) lines[0] = shebang(role);
    else lines.unshift(shebang(role));
    Deno.writeTextFileSync(path, lines.join("\n"));
    Deno.chmodSync(path, 0o755);
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { write: { type: "boolean" } } });
  if (values.write) writeShebangs();
  const problems = shebangProblems();
  for (const problem of problems) console.error(problem);
  Deno.exit(problems.length === 0 ? 0 : 1);
}
