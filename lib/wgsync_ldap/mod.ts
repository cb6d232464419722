/**
 * wgsync-ldap, the LDAP Consumer: its store (workgroups, people, cookies,
 * outbox), event derivation from sync messages, the mass-deletion guard, the
 * outbox pump to the channel, and the wiring that runs them from the role's
 * configuration (sync searches, standard-output sink, systemd status).
 * Only wgsync-ldap uses this folder.
 *
 * @module
 */

export * from "./member.ts";
export * from "./store/mod.ts";
export * from "./guard.ts";
export { ApplyError, type SyncApplierOptions } from "./applier.ts";
export * from "./workgroups.ts";
export * from "./people.ts";
export * from "./pump.ts";
export { type ConsumerOptions, runConsumer } from "./run.ts";
export { ConsumerError } from "./errors.ts";
export { DataDirLock, LOCK_FILE, prepareDataDir } from "./data_dir.ts";
export {
  bindIdentity,
  bindOptions,
  channelAddress,
  type ChannelSettings,
  formerStoreIdentities,
  type LdapSettings,
  peopleSearch,
  storeIdentity,
  storePath,
  syncClientOptions,
  workgroupSearch,
} from "./settings.ts";
export { type ConsumerStatus, statusLine } from "./status.ts";
export { StdoutSink, type StdoutSinkOptions } from "./stdout_sink.ts";
