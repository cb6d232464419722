/**
 * wgsync-ldap's wiring: runs the LDAP Consumer from its configuration
 * sections (store, people and workgroup sync searches, outbox pump to the
 * channel or standard output, mass-deletion refusals, systemd notifications).
 *
 * @module
 */

export {
  ConsumerError,
  type ConsumerOptions,
  runConsumer,
} from "./consumer.ts";
export {
  bindOptions,
  channelAddress,
  type ChannelSettings,
  type LdapSettings,
  peopleSearch,
  storeIdentity,
  storePath,
  syncClientOptions,
  workgroupSearch,
} from "./settings.ts";
export { type ConsumerStatus, statusLine } from "./status.ts";
export { StdoutSink, type StdoutSinkOptions } from "./stdout_sink.ts";
