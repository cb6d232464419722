/**
 * The common entry point of every role: arguments, configuration, logging,
 * systemd notification, signals and exit status.
 *
 * @module
 */
import { dispose } from "@logtape/logtape";
import {
  type Config,
  ConfigError,
  type ConfigSection,
  EX_CONFIG,
  loadConfig,
} from "../config/mod.ts";
import { getLogger, setupLogging } from "../log/mod.ts";
import { Notifier } from "../systemd/mod.ts";
import {
  EX_USAGE,
  parseRoleArgs,
  type RoleFlag,
  usage,
  UsageError,
} from "./args.ts";

/** A role's own flags by name; booleans are false and strings undefined when absent. */
export type RoleFlags = Record<string, string | boolean | undefined>;

/** The configuration with the sections `S` present (validated by {@linkcode runRole}). */
export type RoleConfig<S extends ConfigSection> =
  & Config
  & { [K in S]-?: NonNullable<Config[K]> };

/** What a role's `main` receives; `config` holds the role's `sections`. */
export interface RoleContext<S extends ConfigSection = ConfigSection> {
  config: RoleConfig<S>;
  configPath: string;
  /** The role's own flags by name. */
  flags: RoleFlags;
  logger: ReturnType<typeof getLogger>;
  notifier: Notifier;
  /** Aborted on SIGTERM or SIGINT: stop taking work, finish, then return. */
  signal: AbortSignal;
}

/**
 * A role: its name, help text, the sections it needs, and its work. Write it
 * with {@linkcode defineRole} so that `main`'s configuration is typed with
 * the sections present.
 */
export interface RoleDefinition<S extends ConfigSection = ConfigSection> {
  /** The role's name; the command is `wgsync-<name>`. */
  name: string;
  /** One paragraph for `--help`. */
  summary: string;
  /** Configuration sections that must be present (and their secrets readable). */
  sections: readonly S[];
  /**
   * Further sections that must be present given the flags (wgsync-ldap needs
   * `[channel]` unless `--stdout`); checked like `sections` at start and by
   * `--check-config` with the same flags. They stay optional in `main`'s
   * configuration type. @default {none}
   */
  sectionsFor?(flags: RoleFlags): readonly ConfigSection[];
  /** The role's own command-line flags. @default {{}} */
  flags?: Readonly<Record<string, RoleFlag>>;
  /**
   * Checks beyond the schema that depend on the role's flags (e.g. which
   * instance's section it needs): problem lines like the configuration's,
   * reported with exit status 78 at start and by `--check-config`.
   * @default {no further checks}
   */
  check?(config: RoleConfig<S>, flags: RoleFlags): string[];
  /** Does the role's work; resolves when done or after `signal` aborted. */
  main(context: RoleContext<S>): Promise<void>;
}

/**
 * Returns `role` as it is, its sections inferred from `role.sections`, so
 * that `main` reads `config.ldap` rather than `config.ldap!`.
 */
export function defineRole<const S extends ConfigSection>(
  role: RoleDefinition<S>,
): RoleDefinition<S> {
  return role;
}

/** Options for {@linkcode runRole}. */
export interface RunRoleOptions {
  /** The command-line arguments. @default {Deno.args} */
  argv?: readonly string[];
}

/** Runs a role to completion and returns its exit status. */
export async function runRole<S extends ConfigSection>(
  role: RoleDefinition<S>,
  options: RunRoleOptions = {},
): Promise<number> {
  const command = `wgsync-${role.name}`;
  let args;
  try {
    args = parseRoleArgs(options.argv ?? Deno.args, role.flags);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${command}: ${error.message}\n`);
    console.error(usage(command, role.summary, role.flags));
    return EX_USAGE;
  }
  if (args.help) {
    console.log(usage(command, role.summary, role.flags));
    return 0;
  }
  let config: RoleConfig<S>;
  try {
    const sections = [
      ...new Set([...role.sections, ...role.sectionsFor?.(args.flags) ?? []]),
    ];
    // loadConfig reported every missing section in `sections`.
    config = loadConfig(args.configPath, { sections }) as RoleConfig<S>;
    const problems = role.check?.(config, args.flags) ?? [];
    if (problems.length > 0) throw new ConfigError(args.configPath, problems);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(
      `${command}: Cannot start as the configuration is invalid: path is "${error.path}"`,
    );
    for (const problem of error.problems) console.error(`  ${problem}`);
    return EX_CONFIG;
  }
  if (args.checkConfig) {
    console.log(`${command}: configuration "${args.configPath}" is valid`);
    return 0;
  }
  const logging = await setupLogging({
    identifier: command,
    level: config.log.level,
  });
  const logger = getLogger(role.name);
  const notifier = Notifier.fromEnv(undefined, {
    beforeReady: logging.flush,
  });
  const controller = new AbortController();
  const deadlineMs = config.stop_timeout_seconds * 1000;
  let timeout: ReturnType<typeof setTimeout> | undefined;
  const overdue = new Promise<"overdue">((resolve) => {
    controller.signal.addEventListener("abort", () => {
      timeout = setTimeout(() => resolve("overdue"), deadlineMs);
    });
  });
  const onSignal = (name: Deno.Signal) => () => {
    if (controller.signal.aborted) return;
    logger.info("Stopping on {signal}", { signal: name });
    notifier.stopping(`stopping on ${name}`);
    controller.abort(new Error(`stopped by ${name}`));
  };
  const handlers = (["SIGTERM", "SIGINT"] as const).map((name) => {
    const handler = onSignal(name);
    Deno.addSignalListener(name, handler);
    return [name, handler] as const;
  });
  let status = 0;
  try {
    const outcome = await Promise.race([
      role.main({
        config,
        configPath: args.configPath,
        flags: args.flags,
        logger,
        notifier,
        signal: controller.signal,
      }).then(() => "done" as const),
      overdue,
    ]);
    if (outcome === "overdue") {
      logger.error(
        "Cannot stop cleanly as work did not finish within {seconds} s",
        { seconds: config.stop_timeout_seconds },
      );
      status = 1;
    }
  } catch (error) {
    if (controller.signal.aborted && error === controller.signal.reason) {
      logger.info("Stopped before the work was done");
    } else {
      logger.fatal("{command} failed: {error}", {
        command,
        error: describeError(error),
      });
      status = 1;
    }
  } finally {
    clearTimeout(timeout);
    for (const [name, handler] of handlers) {
      Deno.removeSignalListener(name, handler);
    }
    notifier.close();
    await dispose();
  }
  return status;
}

/** One line describing an error and its causes. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    parts.push(current instanceof Error ? current.message : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(": caused by: ");
}
