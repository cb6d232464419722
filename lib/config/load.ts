/**
 * Loading and validating `wgsync.toml`.
 *
 * @module
 */
import { parse, TomlError } from "smol-toml";
import { z } from "zod";
import { ConfigError } from "./error.ts";
import { type Config, configSchema, type ConfigSection } from "./schema.ts";
import { checkReadableFile, checkSecretFile } from "./secrets.ts";

/** The configuration file used when `--config` is not given. */
export const DEFAULT_CONFIG_PATH = "/etc/wgsync/wgsync.toml";

/** Options for {@linkcode loadConfig}. */
export interface LoadConfigOptions {
  /**
   * Sections the calling role needs: each must be present, every secret file
   * (`*_file` key) inside them must be readable and mode 0600 or tighter, and
   * a `ca_file` must be readable.
   * @default {[]}
   */
  sections?: readonly ConfigSection[];
}

/**
 * Validates parsed TOML against the schema without zod's JIT: zod compiles
 * a fast path (`new Function`) for each object schema at its first parse,
 * which pays off for event bodies parsed many times, not for a file parsed
 * once (the stack's configuration: 14 → 7 ms). The setting is global, so
 * it is restored at once.
 */
function parseOnce(data: unknown) {
  const jitless = z.config().jitless;
  z.config({ jitless: true });
  try {
    return configSchema.safeParse(data, { reportInput: true });
  } finally {
    z.config({ jitless });
  }
}

/** Reads, parses and validates a configuration file; throws {@linkcode ConfigError}. */
export function loadConfig(
  path: string,
  options: LoadConfigOptions = {},
): Config {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    const found = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.NotCapable
      ? "a path this role is not permitted to read"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new ConfigError(path, [
      `expected a readable TOML file, found ${found}`,
    ], {
      cause: error,
    });
  }
  return parseConfig(text, path, options);
}

/** Parses and validates configuration text; `path` names it in errors. */
export function parseConfig(
  text: string,
  path: string,
  options: LoadConfigOptions = {},
): Config {
  let data: unknown;
  try {
    data = parse(text);
  } catch (error) {
    const where = error instanceof TomlError
      ? ` at line ${error.line}, column ${error.column}`
      : "";
    const what = error instanceof Error
      ? error.message.split("\n")[0]
      : String(error);
    throw new ConfigError(
      path,
      [`expected valid TOML${where}, found: ${what}`],
      {
        cause: error,
      },
    );
  }
  const result = parseOnce(data);
  if (!result.success) {
    throw new ConfigError(path, result.error.issues.map(describeIssue));
  }
  const config = result.data;
  const problems: string[] = [];
  for (const section of options.sections ?? []) {
    if (config[section] === undefined) {
      problems.push(
        `key "${section}" expected a [${section}] section, found none`,
      );
      continue;
    }
    for (const [key, file] of namedFiles(config[section], section)) {
      const problem = key.endsWith(".ca_file")
        ? checkReadableFile(key, file)
        : checkSecretFile(key, file);
      if (problem) problems.push(problem);
    }
  }
  if (problems.length > 0) throw new ConfigError(path, problems);
  return config;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const key = issue.path.join(".") || "(top level)";
  switch (issue.code) {
    case "unrecognized_keys":
      return `key "${
        issue.keys.map((k) => issue.path.concat(k).join(".")).join('", "')
      }" is not a known setting`;
    case "invalid_type":
      if (issue.input === undefined) {
        return `key "${key}" is required: expected ${issue.expected}, found nothing`;
      }
      return `key "${key}" expected ${issue.expected}, found ${
        render(issue.input)
      }`;
    case "custom":
      return `key "${key}" ${issue.message}`;
    default: {
      const expected = issue.message.replace(/^Invalid input: /, "")
        .replace(/^Too (small|big): /, "");
      return `key "${key}" ${
        expected.startsWith("expected") ? expected : `expected ${expected}`
      }, found ${render(issue.input)}`;
    }
  }
}

function render(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Every `*_file` key: secrets, except `ca_file` (public, but must be readable). */
function* namedFiles(
  value: unknown,
  prefix: string,
): Generator<[string, string]> {
  if (value === null || typeof value !== "object") return;
  for (const [key, inner] of Object.entries(value)) {
    const path = `${prefix}.${key}`;
    if (key.endsWith("_file") && typeof inner === "string") {
      yield [path, inner];
    } else if (typeof inner === "object") {
      yield* namedFiles(inner, path);
    }
  }
}
