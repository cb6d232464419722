/**
 * Binding the channel server's address: a Unix socket (a stale socket file
 * left by a dead server is replaced, one another server listens on is
 * refused, any other file at the path is refused) with the given mode, or a
 * TCP address (port 0 picks a free port, reported back).
 *
 * @module
 */

import { type ChannelAddress, connect, describeAddress } from "./address.ts";

/** Raised when the server cannot start. */
export class ChannelServerError extends Error {
  /** Constructs a ChannelServerError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ChannelServerError";
  }
}

/** A bound listener and its address (with the actual port for TCP port 0). */
export interface BoundListener {
  listener: Deno.Listener;
  address: ChannelAddress;
}

/** Binds `address` (validated by the caller); `socketMode` applies to a Unix socket. */
export async function bindChannel(
  address: ChannelAddress,
  socketMode: number,
): Promise<BoundListener> {
  let listener: Deno.Listener;
  try {
    if (address.transport === "unix") {
      await removeStaleSocket(address.path);
      listener = Deno.listen({ transport: "unix", path: address.path });
      await Deno.chmod(address.path, socketMode);
    } else {
      listener = Deno.listen({
        transport: "tcp",
        hostname: address.hostname,
        port: address.port,
      });
    }
  } catch (error) {
    if (error instanceof ChannelServerError) throw error;
    throw new ChannelServerError(
      `Cannot listen for the channel: address is ${describeAddress(address)}`,
      { cause: error },
    );
  }
  const bound: ChannelAddress = address.transport === "tcp"
    ? { ...address, port: (listener.addr as Deno.NetAddr).port }
    : address;
  return { listener, address: bound };
}

async function removeStaleSocket(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (!info.isSocket) {
    throw new ChannelServerError(
      `Cannot listen for the channel as the socket path exists and is not a socket: path is "${path}"`,
    );
  }
  try {
    const conn = await connect({ transport: "unix", path });
    conn.close();
  } catch {
    await Deno.remove(path);
    return;
  }
  throw new ChannelServerError(
    `Cannot listen for the channel as another server is listening: path is "${path}"`,
  );
}
