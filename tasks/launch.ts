/**
 * The one way the development tasks and the tests start a role: `deno run
 * --frozen --cached-only` with exactly the role's permissions from
 * `lib/permissions.ts` (plus what the caller names, e.g. a stack's
 * directory), the module `roles/<role>.ts`, and the role's arguments.
 *
 * ```ts
 * const child = roleCommand("ldap", {
 *   args: ["--config", config, "--stdout"],
 *   extraRead: [stack.dir],
 *   env: { KRB5_CONFIG: stack.krb5Config },
 *   stdout: "piped",
 * }).spawn();
 * ```
 *
 * @module
 */
import {
  permissionFlags,
  type PermissionFlagsOptions,
  type RoleName,
  v8Flags,
} from "../lib/permissions.ts";

/**
 * The flags `role` runs with besides its permissions where no deno.json is
 * read (a bundle's launcher): deno.json's unstable features and the role's
 * V8 flags.
 */
export function runtimeFlags(role: RoleName): string[] {
  const config = JSON.parse(
    Deno.readTextFileSync(new URL("../deno.json", import.meta.url)),
  );
  return [
    ...(config.unstable ?? []).map((name: string) => `--unstable-${name}`),
    ...v8Flags(role),
  ];
}

/** The path of a role's module, `roles/<role>.ts`. */
export function roleModule(role: RoleName): string {
  return new URL(`../roles/${role}.ts`, import.meta.url).pathname;
}

/** Options for {@linkcode roleArgv}. */
export interface RoleArgvOptions extends PermissionFlagsOptions {
  /** The role's own arguments, e.g. `["--config", path]`. @default {[]} */
  args?: readonly string[];
  /** Further `deno run` flags before the module, e.g. `["--cpu-prof"]`. @default {[]} */
  runtimeFlags?: readonly string[];
  /**
   * Run this bundle of the role (`bundleRole` in compile.ts, as `deno task
   * compile` builds it) the way its launcher does — `--no-config` with
   * {@linkcode runtimeFlags} — instead of `roles/<role>.ts`.
   * @default {undefined}
   */
  bundle?: string;
}

/**
 * The whole command line: `[deno, "run", "--frozen", "--cached-only",
 * ...permissions, ...v8 flags, roles/<role>.ts, ...args]`, or with
 * `bundle` the launcher's flags and the bundle.
 */
export function roleArgv(
  role: RoleName,
  options: RoleArgvOptions = {},
): string[] {
  const { bundle } = options;
  return [
    Deno.execPath(),
    "run",
    ...(bundle === undefined
      ? ["--frozen", "--cached-only"]
      : ["--cached-only", "--no-config", ...runtimeFlags(role)]),
    ...permissionFlags(role, options),
    ...(bundle === undefined ? v8Flags(role) : []),
    ...(options.runtimeFlags ?? []),
    bundle ?? roleModule(role),
    ...(options.args ?? []),
  ];
}

/** Options for {@linkcode roleCommand}. */
export interface RoleCommandOptions extends RoleArgvOptions {
  /** Environment variables added to the inherited ones. @default {{}} */
  env?: Record<string, string>;
  /** @default {"null"} */
  stdin?: "piped" | "inherit" | "null";
  /** @default {"inherit"} */
  stdout?: "piped" | "inherit" | "null";
  /** @default {"inherit"} */
  stderr?: "piped" | "inherit" | "null";
}

/** A `Deno.Command` running `role` with exactly its permissions. */
export function roleCommand(
  role: RoleName,
  options: RoleCommandOptions = {},
): Deno.Command {
  const [command, ...args] = roleArgv(role, options);
  return new Deno.Command(command, {
    args,
    env: options.env,
    stdin: options.stdin ?? "null",
    stdout: options.stdout,
    stderr: options.stderr,
  });
}
