/**
 * Who may change things, and proof that a change was asked for by the site's
 * own form (CSRF).
 *
 * An admin is recognised only from the header the trusted reverse proxy sets
 * (`REMOTE_USER` style, e.g. `X-Remote-User` after the campus web sign-on),
 * only when the request's peer address is one of the configured proxies, and
 * only when the name is on the allow-list. Everyone else reads.
 *
 * CSRF tokens are HMAC-SHA256 over the admin's name with a secret made at
 * start-up (kept in memory only): a page rendered for one admin carries a
 * token that is valid for that admin, in this process. A restart invalidates
 * open forms, which is acceptable for an operators' site.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** Who is asking. */
export interface Viewer {
  /** The admin's name; undefined for a reader. */
  admin?: string;
  /** The name the proxy sent but that is not on the allow-list, or from a non-proxy address. */
  claimed?: string;
  /** The request's peer address. */
  address: string;
}

/** Options for {@linkcode Access}. */
export interface AccessOptions {
  /** The header naming the signed-in user. */
  header: string;
  /** Peer addresses whose header is believed. */
  trustedProxies: readonly string[];
  /** Names allowed to change things. */
  admins: readonly string[];
  /** The CSRF secret. @default {32 random bytes} */
  secret?: Uint8Array;
}

/** Access decisions for the site. */
export class Access {
  #header: string;
  #proxies: Set<string>;
  #admins: Set<string>;
  #secret: Uint8Array;

  /** Builds the decisions from the configuration. */
  constructor(options: AccessOptions) {
    this.#header = options.header.toLowerCase();
    this.#proxies = new Set(options.trustedProxies.map(normaliseAddress));
    this.#admins = new Set(options.admins);
    this.#secret = options.secret ?? randomBytes(32);
  }

  /** Who sent `headers` from peer `address`. */
  viewer(headers: Headers, address: string): Viewer {
    const peer = normaliseAddress(address);
    const claimed = headers.get(this.#header)?.trim();
    if (claimed === undefined || claimed === "") return { address: peer };
    if (this.#proxies.has(peer) && this.#admins.has(claimed)) {
      return { admin: claimed, address: peer };
    }
    return { claimed, address: peer };
  }

  /** The CSRF token for an admin's forms. */
  csrfToken(admin: string): string {
    return createHmac("sha256", this.#secret).update(`csrf\0${admin}`)
      .digest("base64url");
  }

  /** Whether `token` is the admin's CSRF token (constant-time). */
  checkCsrf(admin: string, token: unknown): boolean {
    if (typeof token !== "string") return false;
    const expected = Buffer.from(this.csrfToken(admin));
    const given = Buffer.from(token);
    return given.length === expected.length &&
      timingSafeEqual(given, expected);
  }
}

/** `::ffff:10.0.0.1` → `10.0.0.1`; IPv6 in lower case. */
export function normaliseAddress(address: string): string {
  const lower = address.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  return mapped ? mapped[1] : lower;
}
