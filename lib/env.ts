/**
 * Reading the environment, the one way: a variable the process was not
 * granted (`--allow-env` without it) reads as unset, like a missing one, so
 * a role runs with exactly the variables its permissions list.
 *
 * @module
 */

/**
 * The value of environment variable `name`, or `undefined` when it is unset
 * or the process may not read it. Other errors (an invalid name) are thrown.
 */
export function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) return undefined;
    throw error;
  }
}
