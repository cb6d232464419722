/**
 * Command-line arguments common to every role, plus each role's own flags.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DEFAULT_CONFIG_PATH } from "../config/mod.ts";

/** The exit status for a usage error (sysexits.h EX_USAGE). */
export const EX_USAGE = 64;

/** A role-specific flag. */
export interface RoleFlag {
  type: "boolean" | "string";
  description: string;
}

/** What the command line asked for. */
export interface RoleArgs {
  help: boolean;
  configPath: string;
  checkConfig: boolean;
  /** The role's own flags by name; booleans are false and strings undefined when absent. */
  flags: Record<string, string | boolean | undefined>;
}

/** A command line that cannot be used. */
export class UsageError extends Error {
  /** Builds the error from what was wrong. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
  }
}

/** Parses `argv` for a role; throws {@linkcode UsageError}. */
export function parseRoleArgs(
  argv: readonly string[],
  flags: Readonly<Record<string, RoleFlag>> = {},
): RoleArgs {
  const options: Record<string, { type: "boolean" | "string" }> = {
    help: { type: "boolean" },
    config: { type: "string" },
    "check-config": { type: "boolean" },
  };
  for (const [name, flag] of Object.entries(flags)) {
    options[name] = { type: flag.type };
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options,
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(
      error instanceof Error ? error.message : String(error),
      { cause: error },
    );
  }
  const own: Record<string, string | boolean | undefined> = {};
  for (const [name, flag] of Object.entries(flags)) {
    own[name] = values[name] ?? (flag.type === "boolean" ? false : undefined);
  }
  return {
    help: values.help === true,
    configPath: typeof values.config === "string"
      ? values.config
      : DEFAULT_CONFIG_PATH,
    checkConfig: values["check-config"] === true,
    flags: own,
  };
}

/** The `--help` text of a role. */
export function usage(
  command: string,
  summary: string,
  flags: Readonly<Record<string, RoleFlag>> = {},
): string {
  const rows: [string, string][] = [
    ["--config PATH", `configuration file (default ${DEFAULT_CONFIG_PATH})`],
    ["--check-config", "validate the configuration and exit (78 if invalid)"],
    ...Object.entries(flags).map(([name, flag]): [string, string] => [
      flag.type === "string" ? `--${name} VALUE` : `--${name}`,
      flag.description,
    ]),
    ["--help", "show this help and exit"],
  ];
  const width = Math.max(...rows.map(([left]) => left.length));
  return [
    `Usage: ${command} [options]`,
    "",
    summary,
    "",
    "Options:",
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`),
    "",
  ].join("\n");
}
