/**
 * Failed command runs counted per message by wgsync-remctl itself, so that
 * only a command that really failed `command_attempts` times goes to the
 * dead-letter queue (sent there explicitly with the reason, like poison).
 *
 * SQS's ApproximateReceiveCount cannot tell a failing command from a
 * receive that ended without an answer: a consumer killed mid-command, a
 * visibility heartbeat that could not reach SQS, a long poll answered to a
 * connection that was gone. Letting the queue's maxReceiveCount decide
 * dead-lettered good messages in the chaos runs, so the redrive policy is
 * only a high backstop (a message that crashes the consumer every time) and
 * this count decides. It lives in memory, bounded (least recently failed
 * forgotten first): a restart starts a message's count again, which only
 * delays its dead-lettering, and the backstop still bounds a crash loop.
 *
 * @module
 */

import { LRUCache } from "lru-cache";
import { backoffDelay, resolveBackoff } from "../backoff.ts";

/** What to do with a message whose command failed once more. */
export type FailureVerdict =
  | { deadLetter: false; attempt: number; retryDelaySeconds: number }
  | { deadLetter: true; attempt: number };

/** Options of {@linkcode CommandAttempts}. */
export interface CommandAttemptsOptions {
  /** Failed runs of one message before it is dead-lettered. */
  attempts: number;
  /** Longest wait before a retry, in seconds. @default {30} */
  maxRetryDelaySeconds?: number;
  /** Messages whose failures are remembered. @default {10000} */
  remembered?: number;
}

/** Failed runs per SQS message id. */
export class CommandAttempts {
  #attempts: number;
  #backoff;
  #failures: LRUCache<string, number>;

  /** Throws a RangeError when `attempts` is not a positive integer. */
  constructor(options: CommandAttemptsOptions) {
    if (!Number.isInteger(options.attempts) || options.attempts < 1) {
      throw new RangeError(
        `Cannot count command attempts as attempts is ${options.attempts}: expected a positive integer`,
      );
    }
    this.#attempts = options.attempts;
    this.#backoff = resolveBackoff({
      minDelay: 1_000,
      maxDelay: (options.maxRetryDelaySeconds ?? 30) * 1000,
      jitter: 0.5,
    });
    this.#failures = new LRUCache({ max: options.remembered ?? 10_000 });
  }

  /** The configured attempts. */
  get attempts(): number {
    return this.#attempts;
  }

  /** Counts one more failed run of `messageId`: retry after a backoff with jitter, or dead-letter. */
  failed(messageId: string): FailureVerdict {
    const attempt = (this.#failures.get(messageId) ?? 0) + 1;
    this.#failures.set(messageId, attempt);
    // Remembered until forgotten: if sending it to the dead-letter queue
    // fails, its next failure dead-letters it again at once.
    if (attempt >= this.#attempts) return { deadLetter: true, attempt };
    return {
      deadLetter: false,
      attempt,
      // ChangeMessageVisibility takes whole seconds.
      retryDelaySeconds: Math.ceil(backoffDelay(this.#backoff, attempt) / 1000),
    };
  }

  /** Forgets `messageId` (it ran, or was dead-lettered). */
  forget(messageId: string): void {
    this.#failures.delete(messageId);
  }
}
