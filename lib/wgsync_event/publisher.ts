/**
 * Publishing to SNS FIFO: messages waiting at the same time for the same
 * topic go out together with `PublishBatch` (at most 10 entries, their total
 * size within the limit); a message alone, or one carrying a claim-check
 * pointer, goes out with `Publish`. `MessageGroupId` is the workgroup's
 * stem and `MessageDeduplicationId` the event id. A message's promise
 * resolves only once SNS accepted it.
 *
 * Why the stem: a FIFO group orders only its own messages, and a name's
 * events do not all carry that name — a `workgroup.renamed` carries the new
 * name while the old name's earlier events may still be pending, and a name
 * can be re-used by another entry after a deletion or a rename. Every event
 * that can address one name is in that name's stem (a rename into another
 * stem is published as `workgroup.deleted` + `workgroup.created`), so one
 * group per stem keeps them all in order; stems run in parallel. The cost
 * is order and FIFO throughput per stem instead of per workgroup (README,
 * "what subscribers receive").
 *
 * Order into SNS: the channel server hands over a workgroup's next event
 * only after the previous one was acknowledged, and a rename only after its
 * previous name's (wgsync-event passes the previous name as related), so
 * the queue never holds two messages that address one name; a batch entry
 * retried on its own cannot be overtaken by them. Unrelated workgroups of a
 * stem go out concurrently: their relative order does not matter.
 *
 * Failures: an entry a batch reports as failed, or one missing from both the
 * Successful and Failed lists (moto does that), is retried on its own; a
 * call that fails as a whole (throttled, unreachable, 5xx) is retried with
 * backoff and jitter until it succeeds or the publisher is stopped, which
 * rejects every message not yet accepted (the channel gives them back).
 * The number of calls started from the queue adapts like TCP's congestion
 * window (additive increase, multiplicative decrease): halved on a throttled
 * or timed-out call, one more per accepted call up to `concurrency`, so an
 * overloaded endpoint is not buried under ever more calls it cannot answer.
 *
 * @module
 */

import {
  PublishBatchCommand,
  type PublishBatchRequestEntry,
  PublishCommand,
  type SNSClient,
} from "@aws-sdk/client-sns";
import { optionChecks } from "../options.ts";
import type { SnsMessage } from "./message.ts";
import {
  type FailureReason,
  failureReason,
  ReasonedError,
  type RetryOptions,
  retryUntilDone,
} from "./retry.ts";

/** The most entries SNS takes in one PublishBatch. */
export const MAX_BATCH_ENTRIES = 10;

/** Options of {@linkcode Publisher}. */
export interface PublisherOptions {
  sns: SNSClient;
  /** The largest total size of one PublishBatch, in bytes. */
  maxBatchBytes: number;
  /** Publish calls in flight at once. @default {16} */
  concurrency?: number;
  /** Called for every failed attempt (a whole call or one entry). */
  onFailure?: (reason: FailureReason, error: unknown, delay?: number) => void;
  /** Called for every call that SNS accepted, with how many entries it carried. */
  onSent?: (entries: number) => void;
  /** Called after a success that followed failures. */
  onRecovered?: () => void;
  /** Retry backoff (tests shorten it). */
  backoff?: RetryOptions["backoff"];
}

interface Pending {
  message: SnsMessage;
  done: PromiseWithResolvers<void>;
}

/** Raised when SNS accepted a batch call but not one of its entries. */
export class EntryFailedError extends ReasonedError {
  /** Constructs an EntryFailedError; `missing`: in neither result list. */
  constructor(missing: boolean, message: string) {
    super(missing ? "entry_missing" : "entry_failed", message);
    this.name = "EntryFailedError";
  }
}

/** Batches and publishes messages; see the module comment. */
export class Publisher {
  #sns: SNSClient;
  #maxBatchBytes: number;
  #concurrency: number;
  #options: PublisherOptions;
  #queue: Pending[] = [];
  #running = 0;
  /** Calls that may be in flight now (AIMD between 1 and #concurrency). */
  #limit: number;
  #scheduled = false;
  #stop = new AbortController();
  #failing = false;

  /** Constructs a Publisher. */
  constructor(options: PublisherOptions) {
    const check = optionChecks("publish to SNS");
    const concurrency = check.positiveInteger(
      "concurrency",
      options.concurrency ?? 16,
    );
    check.positiveInteger("maxBatchBytes", options.maxBatchBytes);
    this.#sns = options.sns;
    this.#maxBatchBytes = options.maxBatchBytes;
    this.#concurrency = concurrency;
    this.#limit = concurrency;
    this.#options = options;
  }

  /** Whether the last attempt failed (and retries are going on). */
  get failing(): boolean {
    return this.#failing;
  }

  /** Messages waiting to be sent. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Resolves once SNS accepted `message`; rejects only when the publisher is stopped. */
  publish(
    message: SnsMessage,
    options: { alone?: boolean } = {},
  ): Promise<void> {
    const pending: Pending = { message, done: Promise.withResolvers<void>() };
    if (this.#stop.signal.aborted) {
      pending.done.reject(this.#stop.signal.reason);
      return pending.done.promise;
    }
    if (options.alone || message.size > this.#maxBatchBytes) {
      void this.#publishOne(pending);
    } else {
      this.#queue.push(pending);
      this.#schedule();
    }
    return pending.done.promise;
  }

  /** Stops every retry; messages not accepted yet are rejected with `reason`. */
  stop(reason: unknown): void {
    this.#stop.abort(reason);
    for (const pending of this.#queue.splice(0)) pending.done.reject(reason);
  }

  /** Runs `attempt` with retries until it succeeds or the publisher stops. */
  retry<T>(attempt: () => Promise<T>): Promise<T> {
    return retryUntilDone(attempt, {
      signal: this.#stop.signal,
      backoff: this.#options.backoff,
      onFailure: (error, { delay }) => this.#failed(error, delay),
    }).then((value) => {
      this.#succeeded();
      return value;
    });
  }

  /** Calls that may be in flight now (between 1 and `concurrency`). */
  get limit(): number {
    return this.#limit;
  }

  #failed(error: unknown, delay?: number): void {
    this.#failing = true;
    const reason = failureReason(error);
    if (reason === "throttled" || reason === "unreachable") {
      this.#limit = Math.max(1, Math.floor(this.#limit / 2));
    }
    this.#options.onFailure?.(reason, error, delay);
  }

  #succeeded(): void {
    if (this.#limit < this.#concurrency) this.#limit++;
    if (!this.#failing) return;
    this.#failing = false;
    this.#options.onRecovered?.();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // A macrotask turn lets the frames already read join the batch.
    setTimeout(() => {
      this.#scheduled = false;
      this.#drain();
    }, 0);
  }

  #drain(): void {
    while (this.#running < this.#limit && this.#queue.length > 0) {
      const batch = this.#take();
      this.#running++;
      const sent = batch.length === 1
        ? this.#publishOne(batch[0])
        : this.#publishBatch(batch);
      sent.finally(() => {
        this.#running--;
        if (this.#queue.length > 0) this.#schedule();
      });
    }
  }

  /** Takes up to 10 messages of the first message's topic, within the size limit. */
  #take(): Pending[] {
    const topic = this.#queue[0].message.topicArn;
    const batch: Pending[] = [];
    let bytes = 0;
    for (
      let i = 0;
      i < this.#queue.length && batch.length < MAX_BATCH_ENTRIES;
    ) {
      const pending = this.#queue[i];
      if (
        pending.message.topicArn !== topic ||
        bytes + pending.message.size > this.#maxBatchBytes
      ) {
        i++;
        continue;
      }
      bytes += pending.message.size;
      batch.push(pending);
      this.#queue.splice(i, 1);
    }
    return batch;
  }

  async #publishOne(pending: Pending): Promise<void> {
    const { message } = pending;
    try {
      await this.retry(() =>
        this.#sns.send(
          new PublishCommand({
            TopicArn: message.topicArn,
            Message: message.body,
            MessageAttributes: message.attributes,
            MessageGroupId: message.event.stem,
            MessageDeduplicationId: message.event.id,
          }),
        )
      );
      this.#options.onSent?.(1);
      pending.done.resolve();
    } catch (error) {
      pending.done.reject(error);
    }
  }

  async #publishBatch(batch: Pending[]): Promise<void> {
    const entries: PublishBatchRequestEntry[] = batch.map(({ message }, i) => ({
      Id: `e${i}`,
      Message: message.body,
      MessageAttributes: message.attributes,
      MessageGroupId: message.event.stem,
      MessageDeduplicationId: message.event.id,
    }));
    let result;
    try {
      result = await this.retry(() =>
        this.#sns.send(
          new PublishBatchCommand({
            TopicArn: batch[0].message.topicArn,
            PublishBatchRequestEntries: entries,
          }),
        )
      );
    } catch (error) {
      for (const pending of batch) pending.done.reject(error);
      return;
    }
    const accepted = new Set(
      (result.Successful ?? []).map((entry) => entry.Id),
    );
    const failed = new Map(
      (result.Failed ?? []).map((entry) => [entry.Id, entry]),
    );
    this.#options.onSent?.(accepted.size);
    const retries: Promise<void>[] = [];
    batch.forEach((pending, i) => {
      const id = `e${i}`;
      if (accepted.has(id)) {
        pending.done.resolve();
        return;
      }
      const entry = failed.get(id);
      this.#failed(
        new EntryFailedError(
          entry === undefined,
          entry === undefined
            ? `SNS reported entry ${id} (event ${pending.message.event.id}) neither successful nor failed`
            : `SNS refused entry ${id} (event ${pending.message.event.id}): ${entry.Code}: ${entry.Message}`,
        ),
      );
      retries.push(this.#publishOne(pending));
    });
    await Promise.all(retries);
  }
}
