/**
 * Per-role artifacts in `dist/`, each granted exactly its role's permissions
 * from `lib/permissions.ts`:
 *
 *   deno task compile [--out DIR]
 *
 * - With a runtime (`DENORT_BIN` names a denort binary): `deno compile` per
 *   role → `DIR/bin/wgsync-<role>`, one self-contained executable.
 * - Without one (this project's machines cannot download denort, and no npm
 *   package ships it): `deno bundle` per role → `DIR/lib/wgsync-<role>.js`
 *   (every dependency inlined, npm packages included) and a launcher
 *   `DIR/bin/wgsync-<role>` running it with `deno run --cached-only` and the
 *   role's flags. Needs only the deno binary on the target, no cache.
 *
 * `DIR/artifacts.json` records which kind was built; the task prints it.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  permissionFlags,
  ROLE_PERMISSIONS,
  type RoleName,
} from "../lib/permissions.ts";
import { roleModule, runtimeFlags } from "./launch.ts";

/** Where installed artifacts live on the target (the units' ExecStart). */
export const INSTALL_LIB = "/usr/lib/wgsync";
/** The deno binary the launchers run. */
export const TARGET_DENO = "/usr/bin/deno";

/** The command name of a role: `keytab_obtain` → `wgsync-keytab-obtain`. */
export function commandName(role: RoleName): string {
  return `wgsync-${role.replaceAll("_", "-")}`;
}

/** What `artifacts.json` says. */
export interface ArtifactsManifest {
  /** `compile`: deno compile executables; `bundle`: bundles + launchers. */
  kind: "compile" | "bundle";
  /** Why this kind was built. */
  reason: string;
  /** Command name → files relative to the output directory. */
  roles: Record<string, string[]>;
}

/** The launcher script of a bundled role. */
export function launcher(role: RoleName): string {
  const name = commandName(role);
  const argv = [
    TARGET_DENO,
    "run",
    "--cached-only",
    "--no-config",
    "--no-prompt",
    ...runtimeFlags(role),
    ...permissionFlags(role),
    `${INSTALL_LIB}/lib/${name}.js`,
  ];
  return [
    "#!/bin/sh",
    `# ${name}: the deno bundle of roles/${role}.ts, run with exactly the`,
    "# role's permissions (lib/permissions.ts). Built by `deno task compile`",
    "# because no denort runtime was available for `deno compile`.",
    "DENO_NO_UPDATE_CHECK=1 exec " +
    argv.map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(" ") +
    ' "$@"',
    "",
  ].join("\n");
}

async function run(args: string[], env?: Record<string, string>) {
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `Cannot build: "deno ${args.join(" ")}" failed:\n${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
}

/** `deno bundle`s `roles/<role>.ts` (every dependency inlined) into `path`. */
export async function bundleRole(role: RoleName, path: string): Promise<void> {
  await run([
    "bundle",
    "--frozen",
    "--platform",
    "deno",
    "--output",
    path,
    roleModule(role),
  ]);
}

/**
 * Runs a compiled role with `--help`: a DENORT_BIN that is not a denort
 * runtime (e.g. the deno CLI itself) yields a binary that is not the role.
 */
async function checkExecutable(
  path: string,
  name: string,
  denort: string,
): Promise<void> {
  const output = await new Deno.Command(path, {
    args: ["--help"],
    stdout: "piped",
    stderr: "piped",
  }).output().catch((error) => {
    throw new Error(`Cannot run the compiled ${name}: path is "${path}"`, {
      cause: error,
    });
  });
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success || !text.startsWith(`Usage: ${name} `)) {
    throw new Error(
      `Cannot use DENORT_BIN as a denort runtime: the ${name} it built does not answer --help with its usage: DENORT_BIN is "${denort}"`,
    );
  }
}

/** Builds every role's artifact into `out`; returns the manifest written there. */
export async function compileAll(
  out: string,
  denort = Deno.env.get("DENORT_BIN"),
): Promise<ArtifactsManifest> {
  await Deno.remove(out, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${out}/bin`, { recursive: true });
  const roles = Object.keys(ROLE_PERMISSIONS) as RoleName[];
  const manifest: ArtifactsManifest = denort
    ? {
      kind: "compile",
      reason: `deno compile with DENORT_BIN=${denort}`,
      roles: {},
    }
    : {
      kind: "bundle",
      reason:
        "DENORT_BIN is not set and deno compile cannot download its runtime here: deno bundle + launcher",
      roles: {},
    };
  if (!denort) await Deno.mkdir(`${out}/lib`, { recursive: true });
  for (const role of roles) {
    const name = commandName(role);
    if (denort) {
      try {
        await run([
          "compile",
          "--frozen",
          "--cached-only",
          ...runtimeFlags(role),
          ...permissionFlags(role),
          "--output",
          `${out}/bin/${name}`,
          roleModule(role),
        ], { DENORT_BIN: denort });
      } catch (error) {
        throw new Error(
          `Cannot build ${name} with deno compile: DENORT_BIN is "${denort}"`,
          { cause: error },
        );
      }
      await checkExecutable(`${out}/bin/${name}`, name, denort);
      manifest.roles[name] = [`bin/${name}`];
    } else {
      await bundleRole(role, `${out}/lib/${name}.js`);
      await Deno.writeTextFile(`${out}/bin/${name}`, launcher(role), {
        mode: 0o755,
      });
      await Deno.chmod(`${out}/bin/${name}`, 0o755);
      manifest.roles[name] = [`bin/${name}`, `lib/${name}.js`];
    }
  }
  await Deno.writeTextFile(
    `${out}/artifacts.json`,
    JSON.stringify(manifest, null, 2) + "\n",
  );
  return manifest;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { out: { type: "string", default: "dist" } },
  });
  const manifest = await compileAll(values.out!);
  console.log(
    `compile: built ${manifest.kind} artifacts for ${
      Object.keys(manifest.roles).join(", ")
    } in ${values.out} (${manifest.reason})`,
  );
}
