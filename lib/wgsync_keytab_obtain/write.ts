/**
 * Writing the clear keytab: atomically (a temporary file in the same
 * directory, written, given its owner and mode 0400, fsynced, renamed over
 * the target, and the directory fsynced), so a reader — or a crash — sees
 * the old file or the new one, never a part of one.
 *
 * @module
 */
import { dirname } from "node:path";

/** The owner of the written file. */
export interface FileOwner {
  uid: number;
  gid: number;
}

/** The prefix of temporary files next to `path` (`.NAME.tmp-`). */
export function temporaryPrefix(path: string): string {
  return `.${path.slice(path.lastIndexOf("/") + 1)}.tmp-`;
}

/**
 * Removes temporary files a killed earlier run left next to `path`; returns
 * how many there were.
 */
export async function removeStaleTemporaries(path: string): Promise<number> {
  const prefix = temporaryPrefix(path);
  let removed = 0;
  try {
    for await (const entry of Deno.readDir(dirname(path))) {
      if (entry.name.startsWith(prefix)) {
        await Deno.remove(`${dirname(path)}/${entry.name}`);
        removed++;
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return removed;
}

/** Options of {@linkcode writeAtomically}. */
export interface WriteAtomicallyOptions {
  /** Owner of the file; unset: the running user. */
  owner?: FileOwner;
  /** Called after the data is written and before the rename (tests kill here). */
  beforeRename?: (temporary: string) => Promise<void>;
}

/**
 * Writes `bytes` to `path` with mode 0400 via a temporary file and rename;
 * the directory is created (mode 0700) when missing. On failure the
 * temporary file is removed and `path` is unchanged.
 */
export async function writeAtomically(
  path: string,
  bytes: Uint8Array,
  options: WriteAtomicallyOptions = {},
): Promise<void> {
  const dir = dirname(path);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const random = Array.from(
    crypto.getRandomValues(new Uint8Array(6)),
    (byte) => byte.toString(16).padStart(2, "0"),
  ).join("");
  const temporary = `${dir}/${temporaryPrefix(path)}${random}`;
  const file = await Deno.open(temporary, {
    write: true,
    createNew: true,
    mode: 0o600,
  });
  let renamed = false;
  try {
    let written = 0;
    while (written < bytes.length) {
      written += await file.write(bytes.subarray(written));
    }
    // Mode and owner before the name exists: never readable by others.
    await Deno.chmod(temporary, 0o400);
    if (options.owner !== undefined) {
      await Deno.chown(temporary, options.owner.uid, options.owner.gid);
    }
    await file.sync();
    file.close();
    await options.beforeRename?.(temporary);
    await Deno.rename(temporary, path);
    renamed = true;
    await syncDirectory(dir);
  } finally {
    try {
      file.close();
    } catch {
      // Already closed.
    }
    if (!renamed) await Deno.remove(temporary).catch(() => {});
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}
