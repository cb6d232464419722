/**
 * What a consumer does to a received message besides reading it: extend its
 * visibility while it is handled (a heartbeat), delete it, or release it
 * (make it visible again after a delay). A delete or release that fails is
 * logged, not thrown: the message comes back when its visibility ends.
 *
 * @module
 */

import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  type Message,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { Logger } from "../log/mod.ts";

/** Options of {@linkcode MessageActions}. */
export interface MessageActionsOptions {
  sqs: SQSClient;
  queueUrl: string;
  /** The target's name, for logs. */
  target: string;
  logger: Logger;
}

/** Heartbeat, delete and release of one queue's messages. */
export class MessageActions {
  #o: MessageActionsOptions;

  /** Acts on `options.queueUrl`. */
  constructor(options: MessageActionsOptions) {
    this.#o = options;
  }

  /** Extends the visibility to `seconds` every third of it until stopped. */
  heartbeat(message: Message, seconds: number): { stop(): void } {
    const timer = setInterval(() => {
      this.#visibility(message, seconds).catch((error) =>
        this.#o.logger.warn(
          "Target {target}: cannot extend the visibility of {messageId}: {error}",
          { target: this.#o.target, messageId: message.MessageId, error },
        )
      );
    }, Math.max(1000, (seconds * 1000) / 3));
    return { stop: () => clearInterval(timer) };
  }

  /** Deletes the message; true when SQS accepted. */
  async delete(message: Message): Promise<boolean> {
    return await this.#logged("delete", message, () =>
      this.#o.sqs.send(
        new DeleteMessageCommand({
          QueueUrl: this.#o.queueUrl,
          ReceiptHandle: message.ReceiptHandle,
        }),
      ));
  }

  /** Makes the message visible again after `delaySeconds` (0: at once). */
  async release(message: Message, delaySeconds: number): Promise<boolean> {
    return await this.#logged(
      "release",
      message,
      () => this.#visibility(message, delaySeconds),
    );
  }

  #visibility(message: Message, seconds: number): Promise<unknown> {
    return this.#o.sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.#o.queueUrl,
        ReceiptHandle: message.ReceiptHandle,
        VisibilityTimeout: seconds,
      }),
    );
  }

  async #logged(
    action: string,
    message: Message,
    call: () => Promise<unknown>,
  ): Promise<boolean> {
    try {
      await call();
      return true;
    } catch (error) {
      this.#o.logger.error(
        "Target {target}: cannot {action} message {messageId}: {error}",
        { target: this.#o.target, action, messageId: message.MessageId, error },
      );
      return false;
    }
  }
}
