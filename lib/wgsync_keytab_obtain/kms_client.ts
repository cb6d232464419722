/**
 * The KMS client of keytab-obtain, from the `[aws]` section.
 *
 * @module
 */
import { KMSClient } from "@aws-sdk/client-kms";
import type { z } from "zod";
import type { awsSchema } from "../config/schema.ts";
import { looseSecretMode } from "../secret_file.ts";

/** A KMS client for `[aws]`: one SDK attempt per call (keytab-obtain retries itself). */
export async function kmsClientFor(
  aws: z.infer<typeof awsSchema>,
): Promise<KMSClient> {
  let credentials;
  if (aws.credentials_file !== undefined) {
    const path = aws.credentials_file;
    const loose = looseSecretMode(await Deno.stat(path));
    if (loose !== undefined) {
      throw new Error(
        `Cannot use the AWS credentials file as it is open to group or others: path is "${path}", mode is ${loose}`,
      );
    }
    const line = (await Deno.readTextFile(path)).trim();
    const colon = line.indexOf(":");
    if (colon <= 0) {
      throw new Error(
        `Cannot use the AWS credentials file as it does not hold "access_key_id:secret": path is "${path}"`,
      );
    }
    credentials = {
      accessKeyId: line.slice(0, colon),
      secretAccessKey: line.slice(colon + 1),
    };
  }
  return new KMSClient({
    region: aws.region,
    ...(aws.endpoint === undefined ? {} : { endpoint: aws.endpoint }),
    ...(credentials === undefined ? {} : { credentials }),
    maxAttempts: 1,
  });
}
