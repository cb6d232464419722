/**
 * Logging settings shared by every role.
 *
 * @module
 */
import { z } from "zod";

/** Logging settings shared by every role. */
export const logSchema = z.strictObject({
  level: z.enum(["trace", "debug", "info", "warning", "error", "fatal"])
    .default("info"),
});
