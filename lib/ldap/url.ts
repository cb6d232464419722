/**
 * Parsing of `ldap://` and `ldaps://` server URLs.
 *
 * @module
 */

/** A parsed LDAP server URL. */
export interface LdapUrl {
  /** "ldaps" means TLS from the first byte; "ldap" is cleartext (optionally StartTLS). */
  scheme: "ldap" | "ldaps";
  /** Host name or IP address, without the brackets of an IPv6 literal. */
  hostname: string;
  /** TCP port: from the URL, or 389 for ldap and 636 for ldaps. */
  port: number;
}

const DEFAULT_PORTS = { ldap: 389, ldaps: 636 } as const;

/**
 * Parses `ldap://host[:port][/]` or `ldaps://host[:port][/]`.
 *
 * Throws a `TypeError` naming the URL when it has another scheme, no host, user
 * information, or an RFC 4516 DN/attributes/scope/filter part (the search is
 * configured separately).
 */
export function parseLdapUrl(url: string): LdapUrl {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new TypeError(
      `Cannot use the LDAP URL as it is not a URL: url is "${url}"`,
      { cause: error },
    );
  }
  const scheme = parsed.protocol.slice(0, -1);
  if (scheme !== "ldap" && scheme !== "ldaps") {
    throw new TypeError(
      `Cannot use the LDAP URL as its scheme is not ldap or ldaps: url is "${url}"`,
    );
  }
  if (parsed.hostname === "") {
    throw new TypeError(
      `Cannot use the LDAP URL as it has no host: url is "${url}"`,
    );
  }
  if (parsed.username !== "" || parsed.password !== "") {
    throw new TypeError(
      `Cannot use the LDAP URL as it carries user information: url is "${url}"`,
    );
  }
  if (
    (parsed.pathname !== "" && parsed.pathname !== "/") ||
    parsed.search !== "" ||
    parsed.hash !== ""
  ) {
    throw new TypeError(
      `Cannot use the LDAP URL as it has a DN, attributes or filter part (configure the search separately): url is "${url}"`,
    );
  }
  const hostname = parsed.hostname.startsWith("[")
    ? parsed.hostname.slice(1, -1)
    : parsed.hostname;
  const port = parsed.port === "" ? DEFAULT_PORTS[scheme] : Number(parsed.port);
  return { scheme, hostname, port };
}
