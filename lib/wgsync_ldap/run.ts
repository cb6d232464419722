/**
 * wgsync-ldap's entry: the data directory prepared and locked, the store
 * opened (waiting while it is unavailable), then the {@linkcode Consumer}
 * until the role stops.
 *
 * @module
 */

import type { ChannelSettings, LdapSettings } from "./settings.ts";
import type { Notifier } from "../systemd/mod.ts";
import { Consumer } from "./consumer.ts";
import { DataDirLock, prepareDataDir } from "./data_dir.ts";
import { ConsumerError } from "./errors.ts";
import { openStoreWithRetry } from "./store_retry.ts";

/** Options of {@linkcode runConsumer}. */
export interface ConsumerOptions {
  /** The `[ldap]` section. */
  ldap: LdapSettings;
  /** The `[channel]` section; required unless `stdout` is set. */
  channel?: ChannelSettings;
  /** Where readiness and status go. */
  notifier: Notifier;
  /** Aborted to stop: the search is cancelled, the pump stopped, the store closed. */
  signal: AbortSignal;
  /**
   * Let one refresh above the mass-deletion threshold through (`--accept-mass-delete`).
   *
   * @default {false}
   */
  acceptMassDelete?: boolean;
  /**
   * Print each event as a JSON line instead of sending it (`--stdout`).
   *
   * @default {false}
   */
  stdout?: boolean;
  /** Where `stdout` mode writes. Default `Deno.stdout`. */
  writer?: { write(bytes: Uint8Array): Promise<number> };
}

/**
 * Runs the consumer until `signal` aborts (then resolves after a clean
 * stop), or rejects on an error it cannot recover from (another wgsync-ldap
 * holding the data directory, a missing permission, an unusable auth key).
 * A store that is locked or unreadable, or a ticket cache that cannot be
 * read yet, is reported and retried.
 */
export async function runConsumer(options: ConsumerOptions): Promise<void> {
  if (!options.stdout && options.channel === undefined) {
    throw new ConsumerError(
      "Cannot run the LDAP consumer as the configuration has no [channel] section: add one, or use --stdout",
    );
  }
  const dir = options.ldap.data_dir;
  await prepareDataDir(dir);
  const lock = await DataDirLock.acquire(dir);
  try {
    const store = await openStoreWithRetry(options.ldap, options);
    if (store === undefined) return; // Stopped while waiting.
    await new Consumer(store, options).run();
  } finally {
    lock.release();
  }
}
