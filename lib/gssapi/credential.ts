/**
 * Acquiring a Kerberos initiator credential from a named ticket cache.
 *
 * The cache is always named explicitly with `gss_acquire_cred_from` and its
 * `ccache` key: MIT krb5 1.20 crashes the process in `gss_init_sec_context`
 * when the default credential comes from an empty or corrupt `KRB5CCNAME`.
 *
 * @module
 */

import { GssError, statusText } from "./error.ts";
import {
  addressOf,
  cString,
  GSS_C_INITIATE,
  type Gssapi,
  gssapi,
  handle,
  isGssError,
  keepAlive,
} from "./ffi.ts";
import { displayName, importName, releaseName } from "./name.ts";
import { readEnv } from "../env.ts";

/** `GSS_S_CREDENTIALS_EXPIRED`. */
const GSS_S_CREDENTIALS_EXPIRED = 11 << 16;

/** A credential handle with its principal and remaining lifetime. */
export interface InitiatorCredential {
  /** Pointer-to-pointer holder of the `gss_cred_id_t`. */
  holder: BigUint64Array<ArrayBuffer>;
  /** The client principal, e.g. `consumer@EXAMPLE.TEST`. */
  principal: string;
  /** Seconds the credential stays valid. */
  lifetime: number;
}

/** Options of {@linkcode acquireInitiatorCredential}. */
export interface AcquireOptions {
  /** The target service; only named in errors. */
  target: string;
  /** The ticket cache name, e.g. `FILE:/run/x/ccache`. */
  ccache: string;
  /** The client principal the cache must hold; default: the cache's own principal. */
  principal?: string;
}

/**
 * The ticket cache to use: `ccache` when given (a plain absolute path becomes
 * `FILE:<path>`), otherwise `KRB5CCNAME`. Throws when neither names one.
 */
export function resolveCcache(target: string, ccache?: string): string {
  const name = ccache ?? readEnv("KRB5CCNAME");
  if (name === undefined || name.trim() === "") {
    throw new GssError(
      `Cannot establish a GSSAPI context with "${target}" as no ticket cache is named: pass the ccache option or set KRB5CCNAME`,
      { major: 0, minor: 0 },
    );
  }
  return name.startsWith("/") ? `FILE:${name}` : name;
}

/** The principal and lifetime of a credential; the principal is undefined when unreadable. */
function inquire(
  api: Gssapi,
  holder: BigUint64Array<ArrayBuffer>,
): { major: number; minor: number; principal?: string; lifetime: number } {
  const minor = new Uint32Array(1);
  const name = new BigUint64Array(1);
  const lifetime = new Uint32Array(1);
  const major = api.fn.gss_inquire_cred(
    minor,
    handle(holder),
    name,
    lifetime,
    new Int32Array(1),
    null,
  );
  try {
    const principal = name[0] === 0n ? undefined : displayName(api, name);
    return { major, minor: minor[0], principal, lifetime: lifetime[0] };
  } finally {
    releaseName(api, name);
  }
}

function acquire(
  api: Gssapi,
  options: AcquireOptions,
  desiredName: BigUint64Array<ArrayBuffer>,
): { holder: BigUint64Array<ArrayBuffer>; timeRec: number } {
  const key = cString("ccache");
  const value = cString(options.ccache);
  const element = new BigUint64Array([addressOf(key), addressOf(value)]);
  const store = new BigUint64Array([1n, addressOf(element)]);
  const minor = new Uint32Array(1);
  const holder = new BigUint64Array(1);
  const timeRec = new Uint32Array(1);
  const major = api.fn.gss_acquire_cred_from(
    minor,
    handle(desiredName),
    0,
    api.mechSetKrb5,
    GSS_C_INITIATE,
    store,
    holder,
    null,
    timeRec,
  );
  keepAlive(key, value, element);
  if (isGssError(major)) {
    const wanted = options.principal === undefined
      ? ""
      : ` for "${options.principal}"`;
    throw new GssError(
      `Cannot establish a GSSAPI context with "${options.target}" as the ticket cache has no valid credentials${wanted}: ccache is "${options.ccache}", ${
        statusText(api, major, minor[0])
      }`,
      { major, minor: minor[0] },
    );
  }
  return { holder, timeRec: timeRec[0] };
}

/**
 * Acquires an initiator credential for the Kerberos mechanism from the
 * ticket cache and checks that it is still valid. The caller releases
 * `holder` with `gss_release_cred`.
 */
export function acquireInitiatorCredential(
  api: Gssapi,
  options: AcquireOptions,
): InitiatorCredential {
  const desiredName = new BigUint64Array(1);
  let acquired: { holder: BigUint64Array<ArrayBuffer>; timeRec: number };
  try {
    if (options.principal !== undefined) {
      importName(api, options.principal, {
        nameType: api.ntKrb5Principal,
        holder: desiredName,
        purpose: `Cannot establish a GSSAPI context with "${options.target}"`,
      });
    }
    acquired = acquire(api, options, desiredName);
  } finally {
    releaseName(api, desiredName);
  }
  const { holder } = acquired;
  try {
    const found = inquire(api, holder);
    if (
      acquired.timeRec === 0 || found.lifetime === 0 ||
      found.major === GSS_S_CREDENTIALS_EXPIRED
    ) {
      const who = found.principal === undefined
        ? ""
        : `, client principal is "${found.principal}"`;
      throw new GssError(
        `Cannot establish a GSSAPI context with "${options.target}" as the ticket cache holds only expired credentials: ccache is "${options.ccache}"${who}, ${
          statusText(api, GSS_S_CREDENTIALS_EXPIRED, 0)
        }`,
        { major: GSS_S_CREDENTIALS_EXPIRED, minor: 0 },
      );
    }
    if (isGssError(found.major) || found.principal === undefined) {
      throw new GssError(
        `Cannot establish a GSSAPI context with "${options.target}" as the ticket cache cannot be inspected: ccache is "${options.ccache}", ${
          statusText(api, found.major, found.minor)
        }`,
        { major: found.major, minor: found.minor },
      );
    }
    return { holder, principal: found.principal, lifetime: found.lifetime };
  } catch (error) {
    api.fn.gss_release_cred(new Uint32Array(1), holder);
    throw error;
  }
}

/**
 * The client principal of a ticket cache (a `FILE:` name or a plain
 * absolute path), e.g. `service/wgsync-ldap@EXAMPLE.TEST`: who a bind with
 * it authenticates as. Throws {@linkcode GssError} when the cache holds no
 * valid credential.
 */
export function ticketCachePrincipal(
  ccache: string,
  api: Gssapi = gssapi(),
): string {
  const name = resolveCcache("the directory", ccache);
  const credential = acquireInitiatorCredential(api, {
    target: "the directory",
    ccache: name,
  });
  api.fn.gss_release_cred(new Uint32Array(1), credential.holder);
  return credential.principal;
}
