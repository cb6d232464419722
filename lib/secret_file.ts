/**
 * The one rule for files that hold secrets (keytabs, passwords, auth keys):
 * no access for group or others, i.e. mode 0600 or tighter.
 *
 * @module
 */

/**
 * The file's permission bits as octal text (e.g. "0644") when group or
 * others have any access to it; undefined when it is 0600 or tighter.
 */
export function looseSecretMode(info: Deno.FileInfo): string | undefined {
  const mode = (info.mode ?? 0) & 0o777;
  return (mode & 0o077) === 0 ? undefined : `0${mode.toString(8)}`;
}
