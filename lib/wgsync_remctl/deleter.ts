/**
 * Deletes off the critical path: a message whose handling is over (its
 * command succeeded, or it was dead-lettered or skipped) is handed to the
 * deleter and the next message of its group starts at once; the deleter
 * sends DeleteMessageBatch calls in the background, each with what is
 * pending (up to 10), at most {@linkcode DELETE_CALLS} at a time, so that
 * deletes finishing while a call is out share the next one.
 *
 * Why this keeps the guarantees: order needs only that a message runs after
 * its predecessor SUCCEEDED, which the group's lane already ensures; SQS
 * hands out the group's next batch only once every message of it was
 * deleted. At least once holds as a delete that fails (after the SDK's
 * retries) loses nothing: the message comes back when its visibility ends
 * and runs again — a duplicate, possibly after later messages of its group,
 * which downstream drops by event id (DESIGN.md: downstream de-duplicates by
 * `id` and orders by `csn`). The same duplicate followed a failed delete
 * before, only in order. The stop waits for pending deletes
 * ({@linkcode Deleter.flushed}).
 *
 * @module
 */

import type { Message } from "@aws-sdk/client-sqs";
import type { Logger } from "../log/mod.ts";
import { type MessageActions, SQS_BATCH_ENTRIES } from "./visibility.ts";

/** DeleteMessageBatch calls one target has out at a time. */
export const DELETE_CALLS = 2;

/** Options of {@linkcode Deleter}. */
export interface DeleterOptions {
  actions: MessageActions;
  /** The target's name, for logs. */
  target: string;
  logger: Logger;
}

interface Pending {
  message: Message;
  eventId?: string;
}

/** Background, batched deletes of one queue's finished messages. */
export class Deleter {
  #o: DeleterOptions;
  #pending: Pending[] = [];
  #calls = new Set<Promise<void>>();

  /** Deletes through `options.actions`. */
  constructor(options: DeleterOptions) {
    this.#o = options;
  }

  /** Deletes messages pending or being deleted now. */
  get size(): number {
    return this.#pending.length + this.#calls.size;
  }

  /** Deletes `message` soon; a failure is logged (the message comes back). */
  delete(message: Message, eventId?: string): void {
    this.#pending.push({ message, eventId });
    this.#send();
  }

  /** Resolves once every delete asked for so far was answered. */
  async flushed(): Promise<void> {
    while (this.#calls.size > 0) await Promise.all(this.#calls);
  }

  #send(): void {
    while (this.#pending.length > 0 && this.#calls.size < DELETE_CALLS) {
      const chunk = this.#pending.splice(0, SQS_BATCH_ENTRIES);
      const call = this.#call(chunk).finally(() => {
        this.#calls.delete(call);
        this.#send();
      });
      this.#calls.add(call);
    }
  }

  async #call(chunk: Pending[]): Promise<void> {
    const failures = await this.#o.actions.delete(
      chunk.map((entry) => entry.message),
    );
    for (const { message, reason } of failures) {
      this.#o.logger.error(
        "Target {target}: cannot delete message {messageId}: {error}; it comes back when its visibility ends and runs again (a duplicate downstream drops by event id)",
        {
          target: this.#o.target,
          messageId: message.MessageId,
          eventId: chunk.find((entry) => entry.message === message)?.eventId,
          error: reason,
        },
      );
    }
  }
}
