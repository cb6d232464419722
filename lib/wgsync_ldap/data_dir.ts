/**
 * wgsync-ldap's data directory: kept private (0700: the store holds
 * memberships and employee numbers) and held by one process at a time
 * through an exclusive lock on `wgsync-ldap.lock`, which names the holder's
 * PID. A second wgsync-ldap on the same directory is refused before it
 * reports readiness, instead of fighting the first over the store.
 *
 * The lock is `flock(2)` (`Deno.FsFile.tryLock`): the kernel drops it when
 * the holder exits, even by SIGKILL, so a stale lock file never blocks a
 * start.
 *
 * @module
 */

import { ConsumerError } from "./errors.ts";

/** The lock file's name inside the data directory. */
export const LOCK_FILE = "wgsync-ldap.lock";

/** The data directory's mode. */
const DIR_MODE = 0o700;

/**
 * Creates the data directory (0700), or makes an existing one 0700 when
 * group or others had access.
 */
export async function prepareDataDir(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true, mode: DIR_MODE });
    const { mode } = await Deno.stat(dir);
    if (mode !== null && (mode & 0o777) !== DIR_MODE) {
      await Deno.chmod(dir, DIR_MODE);
    }
  } catch (error) {
    throw new ConsumerError(
      `Cannot prepare the data directory: path is "${dir}"`,
      { cause: error },
    );
  }
}

/** The held lock of a data directory; {@linkcode DataDirLock.release} at the end. */
export class DataDirLock {
  #file: Deno.FsFile;

  private constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  /**
   * Takes the lock of `dir` and writes this process's PID into the lock
   * file, or throws a {@linkcode ConsumerError} naming the PID of the
   * process holding it.
   */
  static async acquire(dir: string): Promise<DataDirLock> {
    const path = `${dir.replace(/\/+$/, "")}/${LOCK_FILE}`;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, {
        read: true,
        write: true,
        create: true,
        mode: 0o600,
      });
    } catch (error) {
      throw new ConsumerError(
        `Cannot lock the data directory as its lock file cannot be opened: path is "${path}"`,
        { cause: error },
      );
    }
    try {
      if (!await file.tryLock(true)) {
        const holder = (await Deno.readTextFile(path)).trim();
        throw new ConsumerError(
          `Cannot start as another wgsync-ldap (PID ${
            /^\d+$/.test(holder) ? holder : "unknown"
          }) holds the data directory: lock file is "${path}"`,
        );
      }
      await file.truncate(0);
      await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
      return new DataDirLock(file);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  /** Releases the lock (the file stays: removing it could race a new holder). */
  release(): void {
    try {
      this.#file.unlockSync();
    } finally {
      this.#file.close();
    }
  }
}
