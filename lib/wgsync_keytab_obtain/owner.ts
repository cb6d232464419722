/**
 * The service user's uid and gid, looked up in `/etc/passwd` (the system
 * users come from sysusers.d, which writes there; Deno has no getpwnam).
 *
 * @module
 */
import type { FileOwner } from "./write.ts";

/** The passwd file read by {@linkcode lookupUser}. */
export const PASSWD = "/etc/passwd";

/** Options of {@linkcode lookupUser}. */
export interface LookupUserOptions {
  /** The passwd file. @default {"/etc/passwd"} */
  passwd?: string;
}

/** The uid and primary gid of `user`; throws naming the file when there is none. */
export async function lookupUser(
  user: string,
  options: LookupUserOptions = {},
): Promise<FileOwner> {
  const passwd = options.passwd ?? PASSWD;
  const text = await Deno.readTextFile(passwd);
  for (const line of text.split("\n")) {
    const fields = line.split(":");
    if (fields[0] !== user || fields.length < 4) continue;
    const uid = Number(fields[2]);
    const gid = Number(fields[3]);
    if (Number.isInteger(uid) && Number.isInteger(gid)) return { uid, gid };
  }
  throw new Error(
    `Cannot give the keytab to its owner as the user does not exist: user is "${user}", path is "${passwd}"`,
  );
}
