/**
 * The `[aws]` section: AWS endpoint settings of the roles that call AWS.
 *
 * @module
 */
import { z } from "zod";
import { absolutePath } from "./values.ts";

/** AWS endpoint settings shared by the roles that call AWS. */
export const awsSchema = z.strictObject({
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-[0-9]$/, {
    message: 'expected an AWS region such as "us-west-2"',
  }),
  /** Only for tests and the local stack (moto); production uses AWS's own. */
  endpoint: z.url().optional(),
  /** Only for the local stack: a file holding `access_key_id:secret`. */
  credentials_file: absolutePath.optional(),
});
