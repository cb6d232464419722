/**
 * Dead letters per remctl target: the target's source queue names its
 * dead-letter queue in its redrive policy; the site lists that queue's
 * messages (failure reason, receive count), redrives selected ones to the
 * source queue and deletes selected ones.
 *
 * SQS has no "peek": listing receives the messages (up to
 * {@linkcode LIST_LIMIT}, hidden for a moment) and releases them at once
 * (visibility 0), which raises their receive count by one per look.
 *
 * Redriving selected messages is receive → re-send to the source queue with
 * the original group id, body and attributes → delete from the dead-letter
 * queue. The re-sent copy gets a new deduplication id (the original id with
 * a redrive suffix), because SQS FIFO would silently drop a copy whose id it
 * saw in the last five minutes; downstream de-duplicates by the event id in
 * the body. "Redrive all" uses `StartMessageMoveTask` where the service has
 * it (AWS since 2023) and falls back to the same per-message path where it
 * does not (moto answers HTTP 500).
 *
 * @module
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
  StartMessageMoveTaskCommand,
} from "@aws-sdk/client-sqs";

/** How many dead letters a look receives at most. */
export const LIST_LIMIT = 100;

/** A remctl target's queues. */
export interface TargetQueues {
  name: string;
  queueUrl: string;
  queueArn: string;
  dlqUrl: string;
  dlqArn: string;
}

/** One dead letter. */
export interface DeadLetter {
  messageId: string;
  /** The event id (the deduplication id) when known. */
  eventId: string;
  groupId: string;
  type: string;
  workgroup: string;
  receiveCount: number;
  /** The reason the role recorded (a message attribute), when it did. */
  reason?: string;
  sentAt?: string;
  /** The first 200 characters of the body. */
  preview: string;
}

/** What a redrive did. */
export interface RedriveResult {
  /** The messages moved, by message id. */
  moved: string[];
  /** The workgroups of the moved messages. */
  workgroups: string[];
  /** Set when the whole queue was handed to StartMessageMoveTask. */
  moveTask?: string;
}

/** Raised when a target's dead-letter queue cannot be found or used. */
export class DeadLetterError extends Error {
  /** Constructs a DeadLetterError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DeadLetterError";
  }
}

/**
 * The attribute wgsync-remctl records a dead letter's reason under (its
 * `POISON_REASON_ATTRIBUTE`; role folders do not import each other): a
 * poison message's, or a command's that failed `command_attempts` times.
 * Only a message SQS moved itself after the queue's backstop maxReceiveCount
 * has none: its runs' output is in wgsync-remctl's journal under the event id.
 */
const REASON_ATTRIBUTE = "wgsync-poison-reason";

/** The dead-letter queues of the configured targets. */
export class DeadLetters {
  #sqs: SQSClient;
  #targets: readonly { name: string; queueUrl: string }[];
  #resolved = new Map<string, TargetQueues>();

  /** Reads the targets' queues with `sqs`. */
  constructor(
    sqs: SQSClient,
    targets: readonly { name: string; queueUrl: string }[],
  ) {
    this.#sqs = sqs;
    this.#targets = targets;
  }

  /** The configured target names. */
  get names(): string[] {
    return this.#targets.map((target) => target.name);
  }

  /** A target's queues, its dead-letter queue from the redrive policy. */
  async queues(name: string): Promise<TargetQueues> {
    const known = this.#resolved.get(name);
    if (known !== undefined) return known;
    const target = this.#targets.find((t) => t.name === name);
    if (target === undefined) {
      throw new DeadLetterError(`Cannot find the remctl target "${name}"`);
    }
    const attributes = (await this.#sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: target.queueUrl,
        AttributeNames: ["QueueArn", "RedrivePolicy"],
      }),
    )).Attributes ?? {};
    let dlqArn: string | undefined;
    try {
      dlqArn = JSON.parse(attributes.RedrivePolicy ?? "").deadLetterTargetArn;
    } catch {
      // Reported below.
    }
    const arn = /^arn:[^:]+:sqs:[^:]+:([0-9]{12}):(.+)$/.exec(dlqArn ?? "");
    if (!arn || attributes.QueueArn === undefined) {
      throw new DeadLetterError(
        `Cannot find the dead-letter queue of target "${name}" as its queue has no redrive policy naming one: queue is "${target.queueUrl}"`,
      );
    }
    const dlq = await this.#sqs.send(
      new GetQueueUrlCommand({
        QueueName: arn[2],
        QueueOwnerAWSAccountId: arn[1],
      }),
    );
    const queues: TargetQueues = {
      name,
      queueUrl: target.queueUrl,
      queueArn: attributes.QueueArn,
      dlqUrl: dlq.QueueUrl!,
      dlqArn: dlqArn!,
    };
    this.#resolved.set(name, queues);
    return queues;
  }

  /** The target's dead letters (up to {@linkcode LIST_LIMIT}). */
  async list(name: string): Promise<DeadLetter[]> {
    const queues = await this.queues(name);
    const messages = await this.#receiveAll(queues.dlqUrl);
    await this.#release(queues.dlqUrl, messages);
    return messages.map(toDeadLetter);
  }

  /** Deletes the selected dead letters; returns the ids deleted. */
  async delete(name: string, messageIds: readonly string[]): Promise<string[]> {
    const queues = await this.queues(name);
    const wanted = new Set(messageIds);
    const messages = await this.#receiveAll(queues.dlqUrl);
    const deleted: string[] = [];
    try {
      for (const message of messages) {
        if (!wanted.has(message.MessageId!)) continue;
        await this.#sqs.send(
          new DeleteMessageCommand({
            QueueUrl: queues.dlqUrl,
            ReceiptHandle: message.ReceiptHandle,
          }),
        );
        deleted.push(message.MessageId!);
      }
    } finally {
      await this.#release(
        queues.dlqUrl,
        messages.filter((m) => !deleted.includes(m.MessageId!)),
      );
    }
    return deleted;
  }

  /** Re-sends the selected dead letters to the source queue (all with `"all"`). */
  async redrive(
    name: string,
    selection: readonly string[] | "all",
  ): Promise<RedriveResult> {
    const queues = await this.queues(name);
    if (selection === "all") {
      const task = await this.#startMoveTask(queues);
      if (task !== undefined) {
        return { moved: [], workgroups: [], moveTask: task };
      }
    }
    const wanted = selection === "all" ? undefined : new Set(selection);
    const messages = await this.#receiveAll(queues.dlqUrl);
    const moved: Message[] = [];
    try {
      for (const message of messages) {
        if (wanted !== undefined && !wanted.has(message.MessageId!)) continue;
        await this.#resend(queues, message);
        moved.push(message);
      }
    } finally {
      await this.#release(
        queues.dlqUrl,
        messages.filter((m) => !moved.includes(m)),
      );
    }
    const workgroups = [
      ...new Set(moved.map((m) => toDeadLetter(m).workgroup).filter((w) => w)),
    ];
    return { moved: moved.map((m) => m.MessageId!), workgroups };
  }

  async #resend(queues: TargetQueues, message: Message): Promise<void> {
    const groupId = message.Attributes?.MessageGroupId;
    if (groupId === undefined) {
      throw new DeadLetterError(
        `Cannot redrive message ${message.MessageId} of target "${queues.name}" as it has no message group id`,
      );
    }
    const dedup = message.Attributes?.MessageDeduplicationId ??
      message.MessageId!;
    await this.#sqs.send(
      new SendMessageCommand({
        QueueUrl: queues.queueUrl,
        MessageBody: message.Body ?? "",
        MessageGroupId: groupId,
        MessageDeduplicationId: `${dedup.slice(0, 100)}:redrive:${Date.now()}`,
        MessageAttributes: withoutReason(message.MessageAttributes),
      }),
    );
    await this.#sqs.send(
      new DeleteMessageCommand({
        QueueUrl: queues.dlqUrl,
        ReceiptHandle: message.ReceiptHandle,
      }),
    );
  }

  async #startMoveTask(queues: TargetQueues): Promise<string | undefined> {
    try {
      const task = await this.#sqs.send(
        new StartMessageMoveTaskCommand({
          SourceArn: queues.dlqArn,
          DestinationArn: queues.queueArn,
        }),
      );
      return task.TaskHandle;
    } catch {
      // Not supported by this service (moto): move them one by one.
      return undefined;
    }
  }

  async #receiveAll(url: string): Promise<Message[]> {
    const messages: Message[] = [];
    while (messages.length < LIST_LIMIT) {
      const answer = await this.#sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 60,
          WaitTimeSeconds: 0,
          MessageAttributeNames: ["All"],
          MessageSystemAttributeNames: ["All"],
        }),
      );
      const got = answer.Messages ?? [];
      if (got.length === 0) break;
      messages.push(...got);
    }
    return messages;
  }

  async #release(url: string, messages: readonly Message[]): Promise<void> {
    for (let i = 0; i < messages.length; i += 10) {
      await this.#sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: url,
          Entries: messages.slice(i, i + 10).map((message, j) => ({
            Id: String(j),
            ReceiptHandle: message.ReceiptHandle,
            VisibilityTimeout: 0,
          })),
        }),
      );
    }
  }
}

function toDeadLetter(message: Message): DeadLetter {
  const attributes = message.MessageAttributes ?? {};
  const system = message.Attributes ?? {};
  let workgroup = attributes.workgroup?.StringValue ?? "";
  let type = attributes.type?.StringValue ?? "";
  if (workgroup === "" || type === "") {
    try {
      const body = JSON.parse(message.Body ?? "");
      workgroup ||= typeof body?.workgroup === "string" ? body.workgroup : "";
      type ||= typeof body?.type === "string" ? body.type : "";
    } catch {
      // Not JSON: a poison message; its reason says so.
    }
  }
  const sent = Number(system.SentTimestamp);
  return {
    messageId: message.MessageId ?? "",
    eventId: system.MessageDeduplicationId ?? "",
    groupId: system.MessageGroupId ?? "",
    type,
    workgroup,
    receiveCount: Number(system.ApproximateReceiveCount ?? 0),
    reason: attributes[REASON_ATTRIBUTE]?.StringValue,
    sentAt: Number.isFinite(sent) ? new Date(sent).toISOString() : undefined,
    preview: (message.Body ?? "").slice(0, 200),
  };
}

function withoutReason(
  attributes: Record<string, MessageAttributeValue> | undefined,
): Record<string, MessageAttributeValue> | undefined {
  if (attributes === undefined) return undefined;
  const kept = Object.entries(attributes).filter(([name]) =>
    name !== REASON_ATTRIBUTE
  ).map(([name, value]) => [name, {
    DataType: value.DataType,
    StringValue: value.StringValue,
    BinaryValue: value.BinaryValue,
  }]);
  return Object.fromEntries(kept);
}
