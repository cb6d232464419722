/**
 * The `[channel]` section: the stream from wgsync-ldap to wgsync-event.
 *
 * @module
 */
import { z } from "zod";
import { AddressError, validateAddress } from "../../channel/address.ts";
import { absolutePath, hostPort } from "./values.ts";
import {
  DEFAULT_CONNECTIONS,
  DEFAULT_MAX_EVENT_BYTES,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_WINDOW,
  MIN_FRAME_BYTES,
} from "../../channel/defaults.ts";

/** The authenticated stream from wgsync-ldap to wgsync-event. */
export const channelSchema = z.strictObject({
  socket: absolutePath.optional(),
  tcp: hostPort.optional(),
  auth_key_file: absolutePath,
  connections: z.number().int().min(1).max(64).default(DEFAULT_CONNECTIONS),
  window: z.number().int().min(1).max(65536).default(DEFAULT_WINDOW),
  /** A guard against garbage: events larger than a frame travel in several. */
  max_frame_bytes: z.number().int().min(MIN_FRAME_BYTES).default(
    DEFAULT_MAX_FRAME_BYTES,
  ),
  /** The largest event the server (wgsync-event) accepts, reassembled. */
  max_event_bytes: z.number().int().min(MIN_FRAME_BYTES).default(
    DEFAULT_MAX_EVENT_BYTES,
  ),
}).superRefine((channel, context) => {
  const given = [channel.socket, channel.tcp].filter((v) => v !== undefined);
  if (given.length !== 1) {
    context.addIssue({
      code: "custom",
      message: `expected exactly one of "socket" or "tcp", found ${
        given.length === 0 ? "neither" : "both"
      }`,
    });
  }
  if (channel.tcp !== undefined) {
    // The channel's own address rule (loopback only), checked before start.
    const colon = channel.tcp.lastIndexOf(":");
    try {
      validateAddress({
        transport: "tcp",
        hostname: channel.tcp.slice(0, colon),
        port: Number(channel.tcp.slice(colon + 1)),
      });
    } catch (error) {
      if (!(error instanceof AddressError)) throw error;
      context.addIssue({
        code: "custom",
        path: ["tcp"],
        message: `is refused by the channel: ${error.message}`,
      });
    }
  }
});
