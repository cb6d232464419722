/**
 * The `[channel]` section: the stream from wgsync-ldap to wgsync-event.
 *
 * @module
 */
import { z } from "zod";
import { absolutePath, hostPort } from "./values.ts";

/** The authenticated stream from wgsync-ldap to wgsync-event. */
export const channelSchema = z.strictObject({
  socket: absolutePath.optional(),
  tcp: hostPort.optional(),
  auth_key_file: absolutePath,
  connections: z.number().int().min(1).max(64).default(4),
  window: z.number().int().min(1).max(65536).default(256),
  max_frame_bytes: z.number().int().min(1024).default(1024 * 1024),
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
});
