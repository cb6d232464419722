/**
 * The start check, before `READY=1`: the stems table exists with the key
 * `stem` (a string), the default topic exists and is a FIFO topic, and the
 * claim-check bucket exists — each reachable with the role's credentials.
 * A failure names the table, topic or bucket and what was expected.
 *
 * @module
 */

import {
  DescribeTableCommand,
  type DynamoDBClient,
} from "@aws-sdk/client-dynamodb";
import { HeadBucketCommand, type S3Client } from "@aws-sdk/client-s3";
import { GetTopicAttributesCommand, type SNSClient } from "@aws-sdk/client-sns";
import { describeAwsError } from "./retry.ts";

/** Raised when a resource wgsync-event needs is missing or unusable. */
export class StartCheckError extends Error {
  /** Constructs a StartCheckError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StartCheckError";
  }
}

/** What the start check looks at. */
export interface StartCheckOptions {
  dynamo: DynamoDBClient;
  sns: SNSClient;
  s3: S3Client;
  table: string;
  topicArn: string;
  bucket: string;
}

/** Runs the three checks at once; throws the first StartCheckError. */
export async function startCheck(options: StartCheckOptions): Promise<void> {
  const results = await Promise.allSettled([
    checkStemsTable(options.dynamo, options.table),
    checkTopic(options.sns, options.topicArn),
    checkBucket(options.s3, options.bucket),
  ]);
  for (const result of results) {
    if (result.status === "rejected") throw result.reason;
  }
}

/** The stems table exists and its key is exactly `stem` (S). */
export async function checkStemsTable(
  dynamo: DynamoDBClient,
  table: string,
): Promise<void> {
  let description;
  try {
    description = await dynamo.send(
      new DescribeTableCommand({ TableName: table }),
    );
  } catch (error) {
    throw new StartCheckError(
      isNotFound(error)
        ? `Cannot start as the stems table does not exist: table is "${table}"`
        : `Cannot start as the stems table cannot be described: table is "${table}", error is ${
          describeAwsError(error)
        }`,
      { cause: error },
    );
  }
  const keys = description.Table?.KeySchema ?? [];
  const types = new Map(
    (description.Table?.AttributeDefinitions ?? []).map((
      d,
    ) => [d.AttributeName, d.AttributeType]),
  );
  const found = keys.map((k) =>
    `${k.AttributeName} (${k.KeyType}, ${types.get(k.AttributeName) ?? "?"})`
  ).join(", ");
  if (
    keys.length !== 1 || keys[0].AttributeName !== "stem" ||
    keys[0].KeyType !== "HASH" || types.get("stem") !== "S"
  ) {
    throw new StartCheckError(
      `Cannot start as the stems table's key is not the string "stem": table is "${table}", expected stem (HASH, S), found ${
        found || "no key"
      }`,
    );
  }
}

/** The topic exists and is a FIFO topic. */
export async function checkTopic(
  sns: SNSClient,
  topicArn: string,
): Promise<void> {
  let attributes;
  try {
    attributes = await sns.send(
      new GetTopicAttributesCommand({ TopicArn: topicArn }),
    );
  } catch (error) {
    throw new StartCheckError(
      isNotFound(error)
        ? `Cannot start as the topic does not exist: topic is "${topicArn}"`
        : `Cannot start as the topic cannot be read: topic is "${topicArn}", error is ${
          describeAwsError(error)
        }`,
      { cause: error },
    );
  }
  if (attributes.Attributes?.FifoTopic !== "true") {
    throw new StartCheckError(
      `Cannot start as the topic is not a FIFO topic: topic is "${topicArn}", expected FifoTopic "true", found ${
        JSON.stringify(attributes.Attributes?.FifoTopic ?? null)
      }`,
    );
  }
}

/** The claim-check bucket exists. */
export async function checkBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (error) {
    throw new StartCheckError(
      isNotFound(error)
        ? `Cannot start as the claim-check bucket does not exist: bucket is "${bucket}"`
        : `Cannot start as the claim-check bucket cannot be reached: bucket is "${bucket}", error is ${
          describeAwsError(error)
        }`,
      { cause: error },
    );
  }
}

function isNotFound(error: unknown): boolean {
  const name = error instanceof Error ? error.name : "";
  const status = (error as { $metadata?: { httpStatusCode?: number } })
    ?.$metadata?.httpStatusCode;
  return name === "ResourceNotFoundException" || name === "NotFoundException" ||
    name === "NotFound" || name === "NoSuchBucket" || status === 404;
}
