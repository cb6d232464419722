/**
 * The visibility heartbeat of a target's held messages: every message from
 * its receipt until its handling ended — also while it waits behind the
 * messages before it in its group — is extended to the queue's visibility
 * timeout every third of it, all held messages in batch calls. One timer
 * serves them all: a message received between two beats is first extended
 * at most a third of the timeout after its receipt, well within the
 * visibility it was received with. A beat is skipped while the previous
 * one's calls are still unanswered (SQS frozen or unreachable).
 *
 * @module
 */

import type { Message } from "@aws-sdk/client-sqs";
import type { Logger } from "../log/mod.ts";
import type { MessageActions } from "./visibility.ts";

/** Options of {@linkcode Heartbeat}. */
export interface HeartbeatOptions {
  actions: MessageActions;
  /** The queue's visibility timeout, in seconds. */
  visibilitySeconds: number;
  /** The target's name, for logs. */
  target: string;
  logger: Logger;
}

/** Keeps the held messages invisible. */
export class Heartbeat {
  #o: HeartbeatOptions;
  #held = new Set<Message>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #beating = false;

  /** Beats for `options.visibilitySeconds`. */
  constructor(options: HeartbeatOptions) {
    this.#o = options;
  }

  /** Messages held now. */
  get size(): number {
    return this.#held.size;
  }

  /** Keeps `message` invisible from now on. */
  add(message: Message): void {
    this.#held.add(message);
    this.#timer ??= setInterval(
      () => void this.#beat(),
      Math.max(1000, (this.#o.visibilitySeconds * 1000) / 3),
    );
  }

  /** Stops extending `message` (before it is deleted or released). */
  remove(message: Message): void {
    this.#held.delete(message);
    if (this.#held.size === 0) this.stop();
  }

  /** Stops the timer (messages added later start it again). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #beat(): Promise<void> {
    if (this.#beating || this.#held.size === 0) return;
    this.#beating = true;
    try {
      const failures = await this.#o.actions.changeVisibility(
        [...this.#held],
        this.#o.visibilitySeconds,
      );
      for (const { message, reason } of failures) {
        // One that left meanwhile was deleted or released: nothing to extend.
        if (!this.#held.has(message)) continue;
        this.#o.logger.warn(
          "Target {target}: cannot extend the visibility of {messageId}: {error}",
          {
            target: this.#o.target,
            messageId: message.MessageId,
            error: reason,
          },
        );
      }
    } finally {
      this.#beating = false;
    }
  }
}
