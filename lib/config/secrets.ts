/**
 * Checks of files that hold secrets: they must be readable by the role and
 * not readable by anyone else (mode 0600 or tighter, no group/other bits).
 *
 * @module
 */
import { looseSecretMode } from "../secret_file.ts";

/**
 * Returns a problem line for the secret file named by `key`, or undefined
 * when the file is a readable regular file with no group or other access.
 */
export function checkSecretFile(
  key: string,
  path: string,
): string | undefined {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (error) {
    return `key "${key}" expected a readable secret file, found ${
      describeFailure(error)
    }: path is "${path}"`;
  }
  if (!info.isFile) {
    return `key "${key}" expected a regular file, found something else: path is "${path}"`;
  }
  const loose = looseSecretMode(info);
  if (loose !== undefined) {
    return `key "${key}" expected a secret file of mode 0600 or tighter, found mode ${loose}: path is "${path}"`;
  }
  try {
    Deno.openSync(path, { read: true }).close();
  } catch (error) {
    return `key "${key}" expected a readable secret file, found ${
      describeFailure(error)
    }: path is "${path}"`;
  }
  return undefined;
}

/**
 * Returns a problem line for the (not secret) file named by `key`, e.g. a CA
 * certificate, or undefined when it is a regular file the role can read.
 */
export function checkReadableFile(
  key: string,
  path: string,
): string | undefined {
  try {
    if (!Deno.statSync(path).isFile) {
      return `key "${key}" expected a regular file, found something else: path is "${path}"`;
    }
    Deno.openSync(path, { read: true }).close();
  } catch (error) {
    return `key "${key}" expected a readable file, found ${
      describeFailure(error)
    }: path is "${path}"`;
  }
  return undefined;
}

function describeFailure(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "access denied";
  if (error instanceof Deno.errors.NotCapable) {
    return "a path this role is not permitted to read";
  }
  return error instanceof Error ? error.message : String(error);
}
