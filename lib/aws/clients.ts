/**
 * AWS clients from the `[aws]` section: one factory per service, all with
 * the same region, endpoint (moto in tests and the local stack), credentials
 * and the SDK's `standard` retry mode (exponential backoff with full jitter,
 * a retry quota, throttling errors retried). Roles add their own backoff
 * around a call only where it must outlast the SDK's attempts (e.g.
 * wgsync-event keeps retrying a publish while AWS is unreachable).
 *
 * Credentials: the `credentials_file` (`access_key_id:secret`, mode 0600 or
 * tighter) when configured, else the SDK's default provider chain (instance
 * role, environment, shared files).
 *
 * @module
 */

import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { KMSClient } from "@aws-sdk/client-kms";
import { S3Client } from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { z } from "zod";
import type { awsSchema } from "../config/schema.ts";
import { looseSecretMode } from "../secret_file.ts";
import { optionChecks } from "../options.ts";

/** The validated `[aws]` section. */
export type AwsSection = z.infer<typeof awsSchema>;

/** Static credentials read from the credentials file. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** What every client is built from (see {@linkcode loadAwsSettings}). */
export interface AwsSettings {
  region: string;
  /** Set only for moto (tests, local stack). */
  endpoint?: string;
  /** Undefined: the SDK's default credential provider chain. */
  credentials?: AwsCredentials;
  /** Attempts per call including the first (SDK standard retry mode). @default {3} */
  maxAttempts?: number;
  /**
   * Time allowed for one HTTP attempt, in ms: a peer that accepted the
   * connection but does not answer (a hung endpoint) fails the attempt
   * instead of holding it forever. @default {10000}
   */
  requestTimeoutMs?: number;
}

/** Raised when the AWS settings cannot be used. */
export class AwsSettingsError extends Error {
  /** Constructs an AwsSettingsError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AwsSettingsError";
  }
}

/**
 * Reads the `[aws]` section's credentials file (when set) into settings for
 * the client factories. The secret is kept in memory only.
 */
export async function loadAwsSettings(
  section: AwsSection,
  options: { maxAttempts?: number; requestTimeoutMs?: number } = {},
): Promise<AwsSettings> {
  const settings: AwsSettings = {
    region: section.region,
    endpoint: section.endpoint,
    maxAttempts: options.maxAttempts,
    requestTimeoutMs: options.requestTimeoutMs,
  };
  if (section.credentials_file !== undefined) {
    settings.credentials = await readCredentialsFile(section.credentials_file);
  }
  return settings;
}

/** Reads `access_key_id:secret` from a file of mode 0600 or tighter. */
export async function readCredentialsFile(
  path: string,
): Promise<AwsCredentials> {
  let text: string;
  try {
    const info = await Deno.stat(path);
    const loose = looseSecretMode(info);
    if (loose !== undefined) {
      throw new AwsSettingsError(
        `Cannot use the AWS credentials file as it is open to group or others: path is "${path}", mode is ${loose}, expected 0600 or tighter`,
      );
    }
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof AwsSettingsError) throw error;
    throw new AwsSettingsError(
      `Cannot read the AWS credentials file: path is "${path}"`,
      { cause: error },
    );
  }
  const line = text.trim();
  const colon = line.indexOf(":");
  if (colon <= 0 || colon === line.length - 1 || /\s/.test(line)) {
    throw new AwsSettingsError(
      `Cannot use the AWS credentials file as it does not hold one line "access_key_id:secret": path is "${path}"`,
    );
  }
  return {
    accessKeyId: line.slice(0, colon),
    secretAccessKey: line.slice(colon + 1),
  };
}

/** The configuration every client shares. */
function baseConfig(settings: AwsSettings) {
  const check = optionChecks("create an AWS client");
  const maxAttempts = check.positiveInteger(
    "maxAttempts",
    settings.maxAttempts ?? 3,
  );
  const requestTimeout = check.positiveNumber(
    "requestTimeoutMs",
    settings.requestTimeoutMs ?? 10_000,
  );
  return {
    region: settings.region,
    ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
    ...(settings.credentials === undefined
      ? {}
      : { credentials: { ...settings.credentials } }),
    retryMode: "standard",
    maxAttempts,
    requestHandler: {
      requestTimeout,
      // Without it the SDK only warns and keeps waiting.
      throwOnRequestTimeout: true,
      connectionTimeout: Math.min(requestTimeout, 5_000),
    },
  } as const;
}

/** An SNS client. */
export function createSnsClient(settings: AwsSettings): SNSClient {
  return new SNSClient(baseConfig(settings));
}

/** An SQS client. */
export function createSqsClient(settings: AwsSettings): SQSClient {
  return new SQSClient(baseConfig(settings));
}

/** A DynamoDB client. */
export function createDynamoDbClient(settings: AwsSettings): DynamoDBClient {
  return new DynamoDBClient(baseConfig(settings));
}

/**
 * An S3 client; path-style addressing when an endpoint is set (moto serves
 * every bucket on its one host, so virtual-host names would not resolve).
 */
export function createS3Client(settings: AwsSettings): S3Client {
  return new S3Client({
    ...baseConfig(settings),
    forcePathStyle: settings.endpoint !== undefined,
  });
}

/** A KMS client. */
export function createKmsClient(settings: AwsSettings): KMSClient {
  return new KMSClient(baseConfig(settings));
}
