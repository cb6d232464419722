/**
 * A target's queues: the source FIFO queue's attributes and its dead-letter
 * queue, found through the queue's redrive policy, and sending a poison
 * message there at once with the reason as a message attribute.
 *
 * @module
 */

import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  type MessageAttributeValue,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";

/** The message attribute holding why wgsync-remctl dead-lettered a message. */
export const POISON_REASON_ATTRIBUTE = "wgsync-poison-reason";

/** What {@linkcode describeQueue} found. */
export interface QueueInfo {
  visibilityTimeoutSeconds: number;
  maxReceiveCount: number;
  deadLetterUrl: string;
}

/** Reads the queue's attributes; throws an Error naming the queue when it is unusable. */
export async function describeQueue(
  sqs: SQSClient,
  queueUrl: string,
): Promise<QueueInfo> {
  const { Attributes: attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ["FifoQueue", "RedrivePolicy", "VisibilityTimeout"],
    }),
  );
  if (attributes.FifoQueue !== "true") {
    throw new Error(
      `Cannot consume the queue "${queueUrl}" as it is not a FIFO queue: order per workgroup needs one`,
    );
  }
  if (attributes.RedrivePolicy === undefined) {
    throw new Error(
      `Cannot consume the queue "${queueUrl}" as it has no redrive policy: expected a dead-letter queue and maxReceiveCount`,
    );
  }
  const policy = JSON.parse(attributes.RedrivePolicy) as {
    deadLetterTargetArn?: string;
    maxReceiveCount?: number | string;
  };
  const arn = policy.deadLetterTargetArn?.split(":") ?? [];
  if (arn.length !== 6) {
    throw new Error(
      `Cannot consume the queue "${queueUrl}" as its redrive policy names no dead-letter queue ARN: got ${attributes.RedrivePolicy}`,
    );
  }
  const { QueueUrl: deadLetterUrl } = await sqs.send(
    new GetQueueUrlCommand({
      QueueName: arn[5],
      QueueOwnerAWSAccountId: arn[4],
    }),
  );
  if (deadLetterUrl === undefined) {
    throw new Error(
      `Cannot find the dead-letter queue "${
        arn[5]
      }" of the queue "${queueUrl}"`,
    );
  }
  return {
    visibilityTimeoutSeconds: Number(attributes.VisibilityTimeout ?? 30),
    maxReceiveCount: Number(policy.maxReceiveCount ?? 0),
    deadLetterUrl,
  };
}

/**
 * Sends `message` unchanged to the dead-letter queue, in its message group,
 * with `reason` (clipped to 1,000 characters) as the
 * {@linkcode POISON_REASON_ATTRIBUTE} message attribute.
 */
export async function sendToDeadLetter(
  sqs: SQSClient,
  options: { deadLetterUrl: string; message: Message; reason: string },
): Promise<void> {
  const { message, reason } = options;
  const attributes: Record<string, MessageAttributeValue> = {
    ...message.MessageAttributes,
    [POISON_REASON_ATTRIBUTE]: {
      DataType: "String",
      StringValue: reason.length > 1000 ? `${reason.slice(0, 997)}...` : reason,
    },
  };
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: options.deadLetterUrl,
      MessageBody: message.Body === undefined || message.Body === ""
        ? "(empty body)"
        : message.Body,
      MessageGroupId: message.Attributes?.MessageGroupId ?? "poison",
      MessageDeduplicationId: message.MessageId,
      MessageAttributes: attributes,
    }),
  );
}
