/**
 * The LDAP client's defaults, the one source: the library falls back on
 * them, and the `[ldap]` section of the configuration takes its defaults
 * from here. No imports, so the configuration schema can use them without
 * loading the client.
 *
 * @module
 */

/** Largest LDAP message accepted by default: 16 MiB. */
export const DEFAULT_MAX_PDU_SIZE = 16 * 1024 * 1024;

/** Default time to wait for the response to a bind, StartTLS or Cancel: 60 s. */
export const DEFAULT_OPERATION_TIMEOUT = 60_000;

/** Default time to open a connection, including the TLS handshake: 10 s. */
export const DEFAULT_CONNECT_TIMEOUT = 10_000;
