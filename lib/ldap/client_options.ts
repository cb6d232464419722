/**
 * The options of the sync client and their validation: a bad option is a
 * TypeError or RangeError naming it, thrown by the client's constructor
 * before anything connects.
 *
 * @module
 */

import type { BackoffOptions } from "../backoff.ts";
import { type BindOptions, validateBindOptions } from "./bind.ts";
import type { SyncMode } from "./controls.ts";
import type { LdapError } from "./errors.ts";
import { parseFilter } from "./messages.ts";
import { type LdapUrl, parseLdapUrl } from "./url.ts";
import { optionChecks } from "../options.ts";

/** Options of {@linkcode SyncClient}. */
export interface SyncClientOptions {
  /** `ldap://host[:port]` or `ldaps://host[:port]`. */
  url: string;
  /** Upgrade an `ldap://` connection with StartTLS. Default false. */
  startTls?: boolean;
  /** PEM file of the CA(s) trusted for TLS, read at every connect. Default: system roots. */
  caFile?: string;
  /** How to bind (anonymous, simple with a password file, or GSSAPI). */
  bind: BindOptions;
  /** Milliseconds to open a connection, including TLS. Default 10,000. */
  connectTimeout?: number;
  /** Milliseconds to wait for StartTLS, bind and Cancel responses. Default 30,000. */
  operationTimeout?: number;
  /** Largest LDAP message accepted, in bytes (at least 1,024). Default 16 MiB. */
  maxPduSize?: number;
  /** Base DN of the sync search. */
  baseDN: string;
  /** Search scope. Default "sub". */
  scope?: "base" | "one" | "sub";
  /** RFC 4515 filter. Default "(objectClass=*)". */
  filter?: string;
  /** Attributes to return. Default: all user attributes. */
  attributes?: string[];
  /** "refreshAndPersist" (default: refresh, then stream changes forever) or "refreshOnly". */
  mode?: SyncMode;
  /**
   * Where (re)connects resume from. A `Uint8Array`: the stored cookie to start
   * from; later starts use the last cookie given to
   * {@linkcode SyncClient.confirm}. A function: called at every start for the
   * cookie the caller durably holds (then `confirm` is not used). Default:
   * none (full refresh). After e-syncRefreshRequired the next search always
   * starts without a cookie.
   */
  cookie?: Uint8Array | (() => Uint8Array | undefined);
  /** Ask for a full reload instead of e-syncRefreshRequired when the cookie is stale. Default false. */
  reloadHint?: boolean;
  /** Reconnect backoff. Default: 1 s doubling up to 60 s, full jitter, forever. */
  reconnect?: BackoffOptions;
  /** Called before each wait to reconnect, e.g. to report the error in a status line. */
  onRetry?: (
    error: LdapError,
    retry: { attempt: number; delay: number },
  ) => void;
}

/**
 * Checks `options` and returns their parsed URL; throws a TypeError or
 * RangeError naming the bad option.
 */
export function validateSyncClientOptions(
  options: SyncClientOptions,
): LdapUrl {
  const url = parseLdapUrl(options.url);
  if (options.startTls && url.scheme === "ldaps") {
    throw new TypeError(
      `Cannot use StartTLS with an ldaps:// URL as the connection already uses TLS: url is "${options.url}"`,
    );
  }
  const check = optionChecks("use the LDAP options");
  for (const key of ["connectTimeout", "operationTimeout"] as const) {
    const value = options[key];
    if (value !== undefined) check.positiveNumber(key, value);
  }
  if (options.maxPduSize !== undefined) {
    check.numberInRange("maxPduSize", options.maxPduSize, {
      min: 1024,
      integer: true,
    });
  }
  if (typeof options.baseDN !== "string") {
    throw new TypeError(
      `Cannot use the LDAP option baseDN as it is not a string: got ${
        JSON.stringify(options.baseDN)
      }`,
    );
  }
  parseFilter(options.filter ?? "(objectClass=*)");
  if (
    options.attributes !== undefined &&
    !(Array.isArray(options.attributes) &&
      options.attributes.every((name) =>
        typeof name === "string" && name !== ""
      ))
  ) {
    throw new TypeError(
      `Cannot use the LDAP option attributes as it is not a list of attribute names: got ${
        JSON.stringify(options.attributes)
      }`,
    );
  }
  if (options.scope !== undefined) {
    check.oneOf("scope", options.scope, ["base", "one", "sub"]);
  }
  if (options.mode !== undefined) {
    check.oneOf("mode", options.mode, ["refreshOnly", "refreshAndPersist"]);
  }
  if (
    options.cookie !== undefined &&
    !(options.cookie instanceof Uint8Array) &&
    typeof options.cookie !== "function"
  ) {
    throw new TypeError(
      "Cannot use the LDAP option cookie as it is neither a Uint8Array nor a function",
    );
  }
  validateBindOptions(options.bind);
  return url;
}
