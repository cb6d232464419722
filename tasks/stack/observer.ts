/**
 * Where the events land, for `deno task local`: a FIFO queue of its own
 * (`wgsync-local-observer.fifo`, raw delivery, no filter policy) subscribed
 * to the stack's topic, so every published event can be shown with the
 * stack's queues its `stem` attribute routes it to, without taking messages
 * away from those queues (wgsync-remctl reads them). Claim-check pointers
 * are resolved through S3 with lib/aws's reader.
 *
 * @module
 */

import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { SNSClient } from "@aws-sdk/client-sns";
import { S3Client } from "@aws-sdk/client-s3";
import {
  EXTENDED_PAYLOAD_SIZE_ATTRIBUTE,
  resolvePayload,
} from "../../lib/aws/mod.ts";
import { createSubscribedQueue, stackAwsConfig } from "./aws.ts";
import type { StackInfo } from "./types.ts";

/** One message seen on the topic. */
export interface ObservedEvent {
  /** The event (schema v1), its body resolved when it came through S3. */
  event: Record<string, unknown>;
  /** The MessageGroupId SNS kept. */
  groupId: string;
  /** Names of the stack's queues whose filter policy lets it through. */
  queues: string[];
  /** Set when the body came through S3: the pointer's size attribute. */
  offloadedBytes?: number;
}

/** Subscribes the observer queue to the stack's topic and yields what arrives until `signal` aborts. */
export async function* observeTopic(
  stack: StackInfo,
  signal: AbortSignal,
): AsyncGenerator<ObservedEvent> {
  const config = stackAwsConfig(stack);
  const sqs = new SQSClient(config);
  const sns = new SNSClient(config);
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  try {
    const { url } = await createSubscribedQueue(sqs, sns, {
      name: "wgsync-local-observer.fifo",
      topicArn: stack.aws.topicArn,
    });
    while (!signal.aborted) {
      const { Messages: messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          MessageAttributeNames: ["All"],
          AttributeNames: ["All"],
        }),
        { abortSignal: signal },
      ).catch((error) => {
        if (signal.aborted) return { Messages: [] };
        throw error;
      });
      for (const message of messages) {
        const size = message.MessageAttributes?.[
          EXTENDED_PAYLOAD_SIZE_ATTRIBUTE
        ]?.StringValue;
        const body = await resolvePayload(s3, message.Body ?? "", { size });
        const stem = message.MessageAttributes?.stem?.StringValue ?? "";
        yield {
          event: JSON.parse(body),
          groupId: message.Attributes?.MessageGroupId ?? "",
          queues: stack.aws.queues
            .filter((queue) => queue.filterPolicy.stem?.includes(stem))
            .map((queue) => queue.url.split("/").pop()!),
          offloadedBytes: size === undefined ? undefined : Number(size),
        };
      }
      if (messages.length > 0) {
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: url,
            Entries: messages.map((message, i) => ({
              Id: String(i),
              ReceiptHandle: message.ReceiptHandle!,
            })),
          }),
        );
      }
    }
  } finally {
    for (const client of [sqs, sns, s3]) client.destroy();
  }
}

/** One line describing an observed event. */
export function describeObserved(observed: ObservedEvent): string {
  const { event } = observed;
  const what = [
    event.type,
    event.workgroup,
    (event.member as { dn?: string } | undefined)?.dn,
    Array.isArray(event.members) ? `${event.members.length} members` : "",
  ].filter((part) => part !== undefined && part !== "").join(" ");
  const via = observed.offloadedBytes === undefined
    ? ""
    : ` (${observed.offloadedBytes} bytes through S3)`;
  const queues = observed.queues.length === 0
    ? "no remctl queue's filter policy"
    : observed.queues.join(", ");
  return `${what}${via} → SNS → ${queues}`;
}
