/**
 * Turns the `[ldap]` and `[channel]` sections of `wgsync.toml` into the
 * options of the libraries the consumer wires together: the two sync
 * searches, the store's identity and the channel address.
 *
 * @module
 */

import type { z } from "zod";
import type { ldapSchema } from "../config/schema.ts";
import type { BindOptions, SyncClientOptions } from "../ldap/mod.ts";
import { ticketCachePrincipal } from "../gssapi/mod.ts";

/** The validated `[ldap]` section. */
export type LdapSettings = z.infer<typeof ldapSchema>;

export { channelAddress, type ChannelSettings } from "../channel/settings.ts";

/** The store file inside the data directory. */
export function storePath(ldap: LdapSettings): string {
  return `${ldap.data_dir.replace(/\/+$/, "")}/store.sqlite`;
}

/** The bind options of the sync client. */
export function bindOptions(ldap: LdapSettings): BindOptions {
  const bind = ldap.bind;
  switch (bind.method) {
    case "anonymous":
      return { method: "anonymous" };
    case "simple":
      return {
        method: "simple",
        dn: bind.dn,
        passwordFile: bind.password_file,
      };
    case "gssapi":
      return {
        method: "gssapi",
        ccache: bind.ccache,
        saslHost: bind.sasl_host,
        layers: bind.security_layers,
      };
  }
}

/**
 * Who the directory sees binding: the DN of a simple bind, the client
 * principal in the ticket cache of a GSSAPI bind (read from the cache: the
 * cache's path is no part of it, moving the file changes nothing),
 * nobody for an anonymous bind. Throws when the ticket cache cannot be read.
 */
export function bindIdentity(ldap: LdapSettings): Record<string, unknown> {
  const bind = ldap.bind;
  switch (bind.method) {
    case "simple":
      return { method: bind.method, dn: bind.dn };
    case "gssapi":
      return {
        method: bind.method,
        principal: ticketCachePrincipal(bind.ccache),
      };
    case "anonymous":
      return { method: bind.method };
  }
}

/**
 * What the store is built for: the searches and who binds (see
 * {@linkcode bindIdentity}). A store built for something else is rebuilt
 * (with snapshots). The server URL is left out on purpose: a replica of the
 * same directory needs no rebuild.
 */
export function storeIdentity(
  ldap: LdapSettings,
  bind: Record<string, unknown> = bindIdentity(ldap),
): Record<string, unknown> {
  return { workgroups: ldap.workgroups, people: ldap.people, bind };
}

/**
 * The identity as earlier versions recorded it, which named the ticket
 * cache's path instead of its principal: a store built by them for the
 * path configured now is taken over (its identity rewritten) rather than
 * rebuilt. A store whose cache moved at the same upgrade is rebuilt once.
 */
export function formerStoreIdentities(
  ldap: LdapSettings,
): Record<string, unknown>[] {
  const bind = ldap.bind;
  if (bind.method !== "gssapi") return [];
  return [storeIdentity(ldap, { method: bind.method, ccache: bind.ccache })];
}

type SearchOptions = Pick<
  SyncClientOptions,
  "baseDN" | "filter" | "attributes"
>;

/** The sync client options shared by both searches, plus the search itself. */
export function syncClientOptions(
  ldap: LdapSettings,
  search: SearchOptions & Pick<SyncClientOptions, "cookie" | "onRetry">,
): SyncClientOptions {
  return {
    url: ldap.url,
    startTls: ldap.start_tls,
    caFile: ldap.ca_file,
    bind: bindOptions(ldap),
    connectTimeout: ldap.connect_timeout_seconds * 1000,
    operationTimeout: ldap.operation_timeout_seconds * 1000,
    maxPduSize: ldap.max_pdu_bytes,
    mode: "refreshAndPersist",
    scope: "sub",
    ...search,
  };
}

/** The workgroup search: name, members and the change's entryCSN (event ids derive from it). */
export function workgroupSearch(ldap: LdapSettings): SearchOptions {
  const { base, filter, name_attribute, member_attribute } = ldap.workgroups;
  return {
    baseDN: base,
    filter,
    attributes: [name_attribute, member_attribute, "entryCSN"],
  };
}

/** The people search (uid lookup), or undefined when not configured. */
export function peopleSearch(ldap: LdapSettings): SearchOptions | undefined {
  const people = ldap.people;
  if (people === undefined) return undefined;
  return {
    baseDN: people.base,
    filter: people.filter,
    attributes: people.id_attribute === undefined
      ? [people.uid_attribute]
      : [people.uid_attribute, people.id_attribute],
  };
}
