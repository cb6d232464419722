/**
 * The LDAP client of wgsync: an RFC 4533 sync client (refreshOnly and
 * refreshAndPersist) with anonymous, simple and SASL GSSAPI binds, TLS and
 * StartTLS, streaming with backpressure, Cancel (RFC 3909) and reconnects,
 * written on ldapts's BER classes.
 *
 * Values are decoded as UTF-8 strictly: a value that is not valid UTF-8 is an
 * {@linkcode LdapProtocolError} naming the entry's DN and the attribute (the
 * connection is reset and the sync resumed; it is never skipped silently).
 * Request only text attributes.
 *
 * {@linkcode SyncClient} yields a `start` message before every search (the
 * first, after each reconnect, after e-syncRefreshRequired): discard
 * refresh-phase state then. It resumes from the cookie given to
 * `confirm()` (or returned by the `cookie` function option); unknown response
 * controls are logged and ignored (RFC 4511 section 4.1.11: criticality is
 * meaningless on responses); search references are logged and not followed.
 *
 * Needs `--allow-net` to the server, `--allow-read` of the password or CA
 * file, and for GSSAPI `--allow-ffi` (plus `--allow-env=KRB5CCNAME` when no
 * ccache is given). A missing permission (`Deno.errors.NotCapable`) is thrown
 * as is, never retried.
 *
 * @module
 */

export {
  type AnonymousBindOptions,
  type BindOptions,
  type BindResult,
  type GssapiBindOptions,
  type SimpleBindOptions,
} from "./bind.ts";
export { type BackoffOptions, DEFAULT_BACKOFF } from "../backoff.ts";
export { SyncClient } from "./client.ts";
export type { SyncClientOptions } from "./client_options.ts";
export {
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_MAX_PDU_SIZE,
  DEFAULT_OPERATION_TIMEOUT,
} from "./defaults.ts";
export type { SyncMode } from "./controls.ts";
export {
  LdapBindError,
  LdapConnectionError,
  LdapError,
  LdapProtocolError,
  LdapResultError,
  type LdapResultErrorDetails,
} from "./errors.ts";
export {
  closeSession,
  type LdapSession,
  openSession,
  type SessionOptions,
} from "./session.ts";
export { SyncSearch, type SyncSearchOptions } from "./sync.ts";
export type * from "./sync_message.ts";
export { type LdapUrl, parseLdapUrl } from "./url.ts";
