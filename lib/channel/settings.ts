/**
 * The `[channel]` section as the channel's options: both ends (wgsync-ldap's
 * client, wgsync-event's server) read the address from it the same way.
 *
 * @module
 */

import type { z } from "zod";
import type { channelSchema } from "../config/schema.ts";
import type { ChannelAddress } from "./address.ts";

/** The validated `[channel]` section. */
export type ChannelSettings = z.infer<typeof channelSchema>;

/** The channel address of the `[channel]` section (`socket` or `tcp = "host:port"`). */
export function channelAddress(channel: ChannelSettings): ChannelAddress {
  if (channel.socket !== undefined) {
    return { transport: "unix", path: channel.socket };
  }
  const tcp = channel.tcp!;
  const colon = tcp.lastIndexOf(":");
  return {
    transport: "tcp",
    hostname: tcp.slice(0, colon),
    port: Number(tcp.slice(colon + 1)),
  };
}
