/**
 * Where the channel listens: a Unix socket path (the default) or a TCP port
 * on the loopback interface.
 *
 * @module
 */

/** A channel address. */
export type ChannelAddress =
  | { transport: "unix"; path: string }
  | { transport: "tcp"; hostname: string; port: number };

/** Raised for an address the channel does not accept. */
export class AddressError extends Error {
  /** Constructs an AddressError. */
  constructor(message: string) {
    super(message);
    this.name = "AddressError";
  }
}

/** Checks an address up front: a non-empty socket path, or a loopback host and a port. */
export function validateAddress(address: ChannelAddress): ChannelAddress {
  if (address.transport === "unix") {
    if (typeof address.path !== "string" || address.path === "") {
      throw new AddressError(
        "Cannot use the channel address as the socket path is empty: expected a path such as /run/wgsync/event.sock",
      );
    }
    return address;
  }
  if (address.transport === "tcp") {
    if (!isLoopback(address.hostname)) {
      throw new AddressError(
        `Cannot use the channel address as the host is not loopback: hostname is "${address.hostname}", expected 127.0.0.0/8 or ::1`,
      );
    }
    if (
      !Number.isInteger(address.port) || address.port < 0 ||
      address.port > 65535
    ) {
      throw new AddressError(
        `Cannot use the channel address as the port is invalid: port is ${address.port}, expected 0 to 65535`,
      );
    }
    return address;
  }
  throw new AddressError(
    `Cannot use the channel address as the transport is unknown: transport is "${
      (address as { transport: unknown }).transport
    }", expected "unix" or "tcp"`,
  );
}

function isLoopback(hostname: string): boolean {
  return hostname === "::1" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** Describes an address for log lines. */
export function describeAddress(address: ChannelAddress): string {
  return address.transport === "unix"
    ? `unix:${address.path}`
    : `tcp:${
      address.hostname.includes(":")
        ? `[${address.hostname}]`
        : address.hostname
    }:${address.port}`;
}

/** Connects to an address. */
export function connect(address: ChannelAddress): Promise<Deno.Conn> {
  return address.transport === "unix"
    ? Deno.connect({ transport: "unix", path: address.path })
    : Deno.connect({
      transport: "tcp",
      hostname: address.hostname,
      port: address.port,
    });
}
