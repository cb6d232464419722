/**
 * What a consumer does to received messages besides reading them: change
 * their visibility (extend it while they are held, or release them: visible
 * again after a delay) and delete them, several in one call (the SQS batch
 * actions take 10 entries). A call that fails is not thrown: the messages it
 * could not act on are returned with the reason, for the caller to log —
 * such a message comes back when its visibility ends.
 *
 * @module
 */

import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  type SQSClient,
} from "@aws-sdk/client-sqs";

/** The most entries one SQS batch action takes. */
export const SQS_BATCH_ENTRIES = 10;

/** A message an action could not be applied to, and why. */
export interface ActionFailure {
  message: Message;
  /** SQS's code and message for the entry, or the error of the whole call. */
  reason: string;
}

/** Options of {@linkcode MessageActions}. */
export interface MessageActionsOptions {
  sqs: SQSClient;
  queueUrl: string;
}

/** Batched visibility changes and deletes of one queue's messages. */
export class MessageActions {
  #o: MessageActionsOptions;

  /** Acts on `options.queueUrl`. */
  constructor(options: MessageActionsOptions) {
    this.#o = options;
  }

  /**
   * Sets the visibility of `messages` to `seconds` from now (0: visible at
   * once), 10 a call, the calls concurrently; returns the failures.
   */
  async changeVisibility(
    messages: readonly Message[],
    seconds: number,
  ): Promise<ActionFailure[]> {
    return await this.#batched(messages, (chunk) =>
      this.#o.sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.#o.queueUrl,
          Entries: chunk.map((message, i) => ({
            Id: String(i),
            ReceiptHandle: message.ReceiptHandle,
            VisibilityTimeout: seconds,
          })),
        }),
      ));
  }

  /** Deletes `messages`, 10 a call, the calls concurrently; returns the failures. */
  async delete(messages: readonly Message[]): Promise<ActionFailure[]> {
    return await this.#batched(messages, (chunk) =>
      this.#o.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.#o.queueUrl,
          Entries: chunk.map((message, i) => ({
            Id: String(i),
            ReceiptHandle: message.ReceiptHandle,
          })),
        }),
      ));
  }

  async #batched(
    messages: readonly Message[],
    call: (
      chunk: readonly Message[],
    ) => Promise<
      { Failed?: { Id?: string; Code?: string; Message?: string }[] }
    >,
  ): Promise<ActionFailure[]> {
    const chunks: Message[][] = [];
    for (let i = 0; i < messages.length; i += SQS_BATCH_ENTRIES) {
      chunks.push(messages.slice(i, i + SQS_BATCH_ENTRIES));
    }
    const failures = await Promise.all(chunks.map(async (chunk) => {
      try {
        const reply = await call(chunk);
        return (reply.Failed ?? []).map((entry) => ({
          message: chunk[Number(entry.Id)],
          reason: `${entry.Code}: ${entry.Message}`,
        }));
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        return chunk.map((message) => ({ message, reason }));
      }
    }));
    return failures.flat();
  }
}
