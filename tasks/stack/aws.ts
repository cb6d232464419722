/**
 * moto's server standing in for AWS (SNS, SQS, DynamoDB, KMS, S3), provisioned
 * with the AWS SDK: the stems table, the FIFO topic, one FIFO queue + FIFO
 * dead-letter queue per demo remctl target subscribed with a filter policy on
 * the `stem` message attribute, a symmetric KMS key, and the S3 bucket for
 * claim-check payloads (event bodies too large for SNS).
 *
 * @module
 */

import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  CreateAliasCommand,
  CreateKeyCommand,
  KMSClient,
} from "@aws-sdk/client-kms";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import {
  CreateTopicCommand,
  ListSubscriptionsByTopicCommand,
  SNSClient,
  SubscribeCommand,
  UnsubscribeCommand,
} from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import type { StackContext } from "./context.ts";
import type { StackInfo } from "./types.ts";
import { StackError } from "./errors.ts";
import { baseEnv } from "./layout.ts";
import { patchedMotoArgv } from "./moto_fifo.ts";
import { startDaemon, waitForPort } from "./process.ts";
import type { StackProcess, StackQueue } from "./types.ts";

/** Region and static credentials the stack's AWS clients use. */
export const AWS_SETTINGS = {
  region: "us-east-1",
  accessKeyId: "wgsync-local",
  secretAccessKey: "wgsync-local-secret",
};

/**
 * The target queues' maxReceiveCount: high, as wgsync-remctl counts failed
 * commands itself and kills or frozen SQS also count receives.
 */
export const STACK_MAX_RECEIVE_COUNT = 50;

/** Demo remctl targets: queue name part → stems its filter policy lets through. */
export const DEMO_TARGETS: { target: string; stems: string[] }[] = [
  { target: "research", stems: ["research-computing"] },
  { target: "uit", stems: ["uit"] },
];

/** The provisioned AWS resources. */
export interface AwsResources {
  stemsTable: string;
  topicArn: string;
  queues: StackQueue[];
  kmsKeyId: string;
  kmsKeyArn: string;
  kmsAlias: string;
  /** The S3 bucket for claim-check payloads. */
  claimCheckBucket: string;
  /** wgsync-web's own queue: subscribed to the topic, no filter. */
  webQueueUrl: string;
}

/**
 * Starts moto's server (`-H 127.0.0.1 -p PORT`) detached, with SQS FIFO
 * group blocking made like AWS's (see moto_fifo.ts), and waits for its port.
 */
export async function startMoto(
  context: StackContext,
  port: number,
): Promise<{ process: StackProcess; logFile: string }> {
  const logFile = `${context.layout.logs}/moto.log`;
  const process = await startDaemon(
    "moto",
    patchedMotoArgv(context.programs.moto_server, [
      "-H",
      "127.0.0.1",
      "-p",
      String(port),
    ]),
    { env: baseEnv(context.layout), logFile, track: context.track },
  );
  await waitForPort(port, process, { logFile, timeoutMs: 30000 });
  return { process, logFile };
}

/** The AWS SDK client settings (endpoint, region, credentials) for the stack's moto. */
export function stackAwsConfig(info: StackInfo): {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
} {
  return {
    endpoint: info.aws.endpoint,
    region: info.aws.region,
    credentials: {
      accessKeyId: info.aws.accessKeyId,
      secretAccessKey: info.aws.secretAccessKey,
    },
  };
}

/** Creates the stems table, FIFO topic, queues with subscriptions, and the KMS key on `endpoint`. */
export async function provisionAws(endpoint: string): Promise<AwsResources> {
  const config = {
    endpoint,
    region: AWS_SETTINGS.region,
    credentials: {
      accessKeyId: AWS_SETTINGS.accessKeyId,
      secretAccessKey: AWS_SETTINGS.secretAccessKey,
    },
  };
  const dynamo = new DynamoDBClient(config);
  const sns = new SNSClient(config);
  const sqs = new SQSClient(config);
  const kms = new KMSClient(config);
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  try {
    const claimCheckBucket = "wgsync-claim-check";
    const stemsTable = "wgsync-stems";
    const kmsAlias = "alias/wgsync-keytab";
    const [, , topic, key] = await Promise.all([
      s3.send(new CreateBucketCommand({ Bucket: claimCheckBucket })),
      dynamo.send(
        new CreateTableCommand({
          TableName: stemsTable,
          AttributeDefinitions: [{ AttributeName: "stem", AttributeType: "S" }],
          KeySchema: [{ AttributeName: "stem", KeyType: "HASH" }],
          BillingMode: "PAY_PER_REQUEST",
        }),
      ),
      sns.send(
        new CreateTopicCommand({
          Name: "wgsync-events.fifo",
          Attributes: { FifoTopic: "true", ContentBasedDeduplication: "false" },
        }),
      ),
      kms.send(
        new CreateKeyCommand({
          KeySpec: "SYMMETRIC_DEFAULT",
          KeyUsage: "ENCRYPT_DECRYPT",
          Description: "wgsync keytab data keys (local stack)",
        }),
      ),
    ]);
    const topicArn = required(topic.TopicArn, "CreateTopic TopicArn");
    const kmsKeyId = required(key.KeyMetadata?.KeyId, "CreateKey KeyId");
    const kmsKeyArn = required(key.KeyMetadata?.Arn, "CreateKey Arn");
    await kms.send(
      new CreateAliasCommand({ AliasName: kmsAlias, TargetKeyId: kmsKeyId }),
    );
    const queues = await Promise.all(
      DEMO_TARGETS.map(({ target, stems }) =>
        createTargetQueue(sqs, sns, { target, stems, topicArn })
      ),
    );
    // wgsync-web's live events: every event (no filter policy).
    const { url: webQueueUrl } = await createSubscribedQueue(sqs, sns, {
      name: "wgsync-web.fifo",
      topicArn,
    });
    return {
      webQueueUrl,
      stemsTable,
      topicArn,
      queues,
      kmsKeyId,
      kmsKeyArn,
      kmsAlias,
      claimCheckBucket,
    };
  } catch (error) {
    if (error instanceof StackError) throw error;
    throw new StackError(
      `Cannot provision the AWS resources on moto at ${endpoint}`,
      { cause: error },
    );
  } finally {
    for (const client of [dynamo, sns, sqs, kms, s3]) client.destroy();
  }
}

interface TargetInput {
  target: string;
  stems: string[];
  topicArn: string;
}

async function createTargetQueue(
  sqs: SQSClient,
  sns: SNSClient,
  input: TargetInput,
): Promise<StackQueue> {
  const base = `wgsync-remctl-${input.target}`;
  const dlq = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${base}-dlq.fifo`,
      Attributes: { FifoQueue: "true" },
    }),
  );
  const dlqUrl = required(dlq.QueueUrl, "CreateQueue QueueUrl");
  const dlqArn = await queueArn(sqs, dlqUrl);
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${base}.fifo`,
      Attributes: {
        FifoQueue: "true",
        VisibilityTimeout: "30",
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlqArn,
          // A backstop only: wgsync-remctl dead-letters a failing command
          // itself after command_attempts runs (README, wgsync-remctl).
          maxReceiveCount: STACK_MAX_RECEIVE_COUNT,
        }),
      },
    }),
  );
  const url = required(queue.QueueUrl, "CreateQueue QueueUrl");
  const arn = await queueArn(sqs, url);
  const filterPolicy = { stem: input.stems };
  const subscription = await sns.send(
    new SubscribeCommand({
      TopicArn: input.topicArn,
      Protocol: "sqs",
      Endpoint: arn,
      Attributes: {
        RawMessageDelivery: "true",
        FilterPolicy: JSON.stringify(filterPolicy),
        FilterPolicyScope: "MessageAttributes",
      },
      ReturnSubscriptionArn: true,
    }),
  );
  return {
    target: input.target,
    url,
    arn,
    dlqUrl,
    dlqArn,
    subscriptionArn: required(
      subscription.SubscriptionArn,
      "Subscribe SubscriptionArn",
    ),
    filterPolicy,
  };
}

/** Options of {@linkcode createSubscribedQueue}. */
export interface SubscribedQueueOptions {
  /** The queue name, ending in `.fifo`. */
  name: string;
  topicArn: string;
  /** A filter policy on message attributes; none: every message. */
  filterPolicy?: Record<string, string[]>;
}

/**
 * A FIFO queue (no dead-letter queue) subscribed to `topicArn` with raw
 * delivery, for tools and tests that watch what the topic carries; returns
 * its URL and the subscription's ARN.
 */
export async function createSubscribedQueue(
  sqs: SQSClient,
  sns: SNSClient,
  options: SubscribedQueueOptions,
): Promise<{ url: string; subscriptionArn: string }> {
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: options.name,
      Attributes: { FifoQueue: "true", VisibilityTimeout: "60" },
    }),
  );
  const url = required(queue.QueueUrl, "CreateQueue QueueUrl");
  const subscription = await sns.send(
    new SubscribeCommand({
      TopicArn: options.topicArn,
      ReturnSubscriptionArn: true,
      Protocol: "sqs",
      Endpoint: await queueArn(sqs, url),
      Attributes: {
        RawMessageDelivery: "true",
        ...(options.filterPolicy === undefined ? {} : {
          FilterPolicy: JSON.stringify(options.filterPolicy),
          FilterPolicyScope: "MessageAttributes",
        }),
      },
    }),
  );
  return {
    url,
    subscriptionArn: required(
      subscription.SubscriptionArn,
      "Subscribe SubscriptionArn",
    ),
  };
}

/**
 * Unsubscribes the queue at `queueUrl` from `topicArn`; returns how many
 * subscriptions were removed. For runs without wgsync-web: its queue is never
 * read, and moto compares each new message with every message still in a
 * FIFO queue (de-duplication), so a publish gets slower as that queue fills.
 */
export async function unsubscribeQueue(
  sqs: SQSClient,
  sns: SNSClient,
  options: { topicArn: string; queueUrl: string },
): Promise<number> {
  const arn = await queueArn(sqs, options.queueUrl);
  const { Subscriptions = [] } = await sns.send(
    new ListSubscriptionsByTopicCommand({ TopicArn: options.topicArn }),
  );
  let removed = 0;
  for (const subscription of Subscriptions) {
    if (subscription.Endpoint !== arn || !subscription.SubscriptionArn) {
      continue;
    }
    await sns.send(
      new UnsubscribeCommand({ SubscriptionArn: subscription.SubscriptionArn }),
    );
    removed++;
  }
  return removed;
}

async function queueArn(sqs: SQSClient, url: string): Promise<string> {
  const attributes = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ["QueueArn"],
    }),
  );
  return required(
    attributes.Attributes?.QueueArn,
    "GetQueueAttributes QueueArn",
  );
}

function required(value: string | undefined, what: string): string {
  if (value === undefined || value === "") {
    throw new StackError(`moto returned no ${what}`);
  }
  return value;
}
