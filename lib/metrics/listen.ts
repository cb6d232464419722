/**
 * The metrics listener's address: `host:port`, loopback unless allowed.
 *
 * @module
 */

/** A parsed `host:port` listen address. */
export interface ListenAddress {
  hostname: string;
  port: number;
}

/**
 * Whether `hostname` names this host only: `localhost`, an address in
 * 127.0.0.0/8, or `::1`.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (host === "localhost" || host === "::1") return true;
  const octets = host.split(".");
  return octets.length === 4 && octets[0] === "127" &&
    octets.every((octet) => /^[0-9]{1,3}$/.test(octet) && Number(octet) < 256);
}

/** Options for {@linkcode parseListen}. */
export interface ParseListenOptions {
  /** Accept an address other hosts can reach. @default {false} */
  allowNonLoopback?: boolean;
}

/**
 * Parses `"127.0.0.1:9101"` (or `"[::1]:9101"`). Throws a `RangeError`
 * naming the value when it is not `host:port` or, unless allowed, when the
 * host is not loopback. Port 0 asks the system for a free port.
 */
export function parseListen(
  value: string,
  options: ParseListenOptions = {},
): ListenAddress {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+):([0-9]{1,5})$/.exec(
    value,
  );
  const port = Number(match?.[2]);
  if (!match || port > 65535) {
    throw new RangeError(
      `Cannot listen for metrics as the address is not "host:port": value is "${value}"`,
    );
  }
  const hostname = match[1].replace(/^\[(.*)\]$/, "$1");
  if (!options.allowNonLoopback && !isLoopbackHost(hostname)) {
    throw new RangeError(
      `Cannot listen for metrics as the address is not loopback: value is "${value}"`,
    );
  }
  return { hostname, port };
}
