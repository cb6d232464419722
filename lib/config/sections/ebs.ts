/**
 * The `[ebs]` section: wgsync-ebs, the data volume check.
 *
 * @module
 */
import { z } from "zod";
import { absolutePath, seconds } from "./values.ts";

/** wgsync-ebs: the data volume must be mounted. */
export const ebsSchema = z.strictObject({
  mount_point: absolutePath,
  label: z.string().regex(/^[A-Za-z0-9_.\-]{1,16}$/, {
    message: "expected a filesystem label (at most 16 letters, digits, _ . -)",
  }).optional(),
  mount: z.boolean().default(false),
  timeout_seconds: seconds.default(60),
});
