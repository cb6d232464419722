/** The exit status for a configuration error (sysexits.h EX_CONFIG). */
export const EX_CONFIG = 78;

/** A configuration file that cannot be used; `problems` names each key. */
export class ConfigError extends Error {
  /** The configuration file's path. */
  readonly path: string;
  /** One line per problem: the key, the expected form and the value found. */
  readonly problems: readonly string[];

  /** Builds the error from the file's path and its problems. */
  constructor(
    path: string,
    problems: readonly string[],
    options?: ErrorOptions,
  ) {
    super(
      `Cannot use the configuration file "${path}": ${problems.join("; ")}`,
      options,
    );
    this.name = "ConfigError";
    this.path = path;
    this.problems = problems;
  }
}
