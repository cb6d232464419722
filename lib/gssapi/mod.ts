/**
 * Kerberos GSSAPI through FFI to MIT `libgssapi_krb5.so.2` (Debian package
 * libgssapi-krb5-2), and the SASL GSSAPI mechanism of RFC 4752 for LDAP binds.
 *
 * Needs `--allow-ffi` (unscoped) and, when no ccache option is given,
 * `--allow-env=KRB5CCNAME`.
 *
 * @module
 */

export {
  GssError,
  type GssErrorOptions,
  SaslError,
  type SaslErrorOptions,
} from "./error.ts";
export {
  GssInitiator,
  type GssInitiatorOptions,
  type GssUnwrapResult,
  type GssWrapOptions,
} from "./initiator.ts";
export {
  type SaslExchangeResult,
  saslGssapiBind,
  type SaslGssapiOptions,
  type SaslSecurityLayer,
  type SaslSession,
} from "./sasl.ts";
export { ticketCachePrincipal } from "./credential.ts";
