/**
 * The `[keytab_obtain.*]` sections: the keytab-obtain oneshots.
 *
 * @module
 */
import { z } from "zod";
import { absolutePath } from "./values.ts";

/** A keytab-obtain oneshot: KMS-decrypt an encrypted keytab into /run. */
export const keytabObtainSchema = z.strictObject({
  encrypted_keytab: absolutePath,
  output: absolutePath.regex(/^\/run\//, {
    message: "expected a path under /run (keytabs never rest in clear)",
  }),
  principal: z.string().min(1),
});
