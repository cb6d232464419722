/**
 * Value forms shared by the sections of `wgsync.toml`.
 *
 * @module
 */
import { z } from "zod";
import { parseListen } from "../../metrics/listen.ts";

/** An absolute path. */
export const absolutePath = z.string().regex(/^\//, {
  message: "expected an absolute path",
});
/** A `host:port` address. */
export const hostPort = z.string().regex(/^[A-Za-z0-9.\-]+:[0-9]{1,5}$/, {
  message: 'expected "host:port"',
});
/**
 * `metrics_listen`: the loopback `host:port` of a role's `/metrics` and
 * `/healthz` (lib/metrics); no listener when the key is absent.
 */
export const metricsListen = z.string().check((ctx) => {
  try {
    parseListen(ctx.value);
  } catch (error) {
    ctx.issues.push({
      code: "custom",
      input: ctx.value,
      message: (error as RangeError).message,
    });
  }
}).optional();
/** An `ldap://` or `ldaps://` URL without a path. */
export const ldapUrl = z.string().regex(/^ldaps?:\/\/[^/?#]+\/?$/, {
  message: 'expected an LDAP URL such as "ldap://ldap.example.edu"',
});
/** An LDAP distinguished name. */
export const distinguishedName = z.string().regex(
  /^[^=,]+=[^,]*(,[^=,]+=[^,]*)*$/,
  {
    message: 'expected a DN such as "ou=workgroups,dc=example,dc=edu"',
  },
);
/** A parenthesised LDAP filter. */
export const ldapFilter = z.string().regex(/^\(.*\)$/, {
  message: 'expected a parenthesised LDAP filter such as "(objectClass=*)"',
});
/** An LDAP attribute name. */
export const attributeName = z.string().regex(/^[A-Za-z][A-Za-z0-9-]*$/, {
  message: "expected an LDAP attribute name",
});
/** A positive number of seconds. */
export const seconds = z.number().positive();
