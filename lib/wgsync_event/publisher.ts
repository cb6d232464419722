/**
 * Publishing to SNS FIFO: messages waiting at the same time for the same
 * topic go out together with `PublishBatch` (at most 10 entries, their total
 * size within the limit); a message alone, or one carrying a claim-check
 * pointer, goes out with `Publish`. `MessageGroupId` is the workgroup (order
 * per workgroup, parallelism across workgroups) and `MessageDeduplicationId`
 * the event id. A message's promise resolves only once SNS accepted it.
 *
 * Order per workgroup: messages are queued in the order `publish` was
 * called, and a workgroup has at most one call in flight. A batch takes a
 * workgroup's messages in queue order and stops at the first one that cannot
 * join (other topic, too large, to be sent alone), so every later message of
 * that workgroup waits too; SNS FIFO keeps the order of one group's entries
 * within a batch and across sequential calls. A batch fills with one
 * workgroup's messages before the next one's, so it spans few workgroups and
 * leaves the others free for concurrent calls. An entry a batch reports as
 * failed, or one missing from both the Successful and Failed lists (moto does
 * that), is retried on its own, then the workgroup's later entries of that
 * batch that were not accepted either, one at a time in order; the
 * workgroup's queued messages wait until all of them were accepted. (SNS
 * does not document whether it may accept a group's entry after refusing an
 * earlier one of the same call; that could not be undone, so the publisher
 * logs it as an error should it happen.)
 *
 * Failures: a call that fails as a whole (throttled, unreachable, 5xx) is
 * retried with backoff and jitter until it succeeds or the publisher is
 * stopped, which rejects every message not yet accepted (the channel gives
 * them back).
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
import { getLogger } from "../log/mod.ts";
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
  /** Sent with `Publish`, never in a batch. */
  alone: boolean;
  done: PromiseWithResolvers<void>;
}

const log = getLogger("event");

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
  /** Workgroups with a call (or its entries' retries) in flight. */
  #busy = new Set<string>();
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
    const pending: Pending = {
      message,
      alone: options.alone === true || message.size > this.#maxBatchBytes,
      done: Promise.withResolvers<void>(),
    };
    if (this.#stop.signal.aborted) {
      pending.done.reject(this.#stop.signal.reason);
      return pending.done.promise;
    }
    this.#queue.push(pending);
    this.#schedule();
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
    while (this.#running < this.#limit) {
      const batch = this.#take();
      if (batch.length === 0) break;
      const groups = new Set(batch.map((p) => p.message.event.workgroup));
      for (const group of groups) this.#busy.add(group);
      this.#running++;
      const sent = batch.length === 1
        ? this.#publishInOrder(batch)
        : this.#publishBatch(batch);
      sent.finally(() => {
        this.#running--;
        for (const group of groups) this.#busy.delete(group);
        if (this.#queue.length > 0) this.#schedule();
      });
    }
  }

  /**
   * Takes up to 10 messages of the first free message's topic, within the
   * size limit, skipping workgroups with a call in flight: a workgroup's
   * waiting messages in queue order, up to the first one that cannot join,
   * then the next workgroup's (by first message), so a batch spans few
   * workgroups and leaves the others free for the next call. A message to be
   * sent alone is taken alone once no free message is ahead of it.
   */
  #take(): Pending[] {
    const held = new Set(this.#busy);
    /** Per free workgroup, its messages that may go now, in queue order. */
    const runs = new Map<string, Pending[]>();
    let topic: string | undefined;
    for (const [i, pending] of this.#queue.entries()) {
      const { message } = pending;
      const group = message.event.workgroup;
      if (held.has(group)) continue;
      if (pending.alone) {
        if (runs.size === 0) {
          this.#queue.splice(i, 1);
          return [pending];
        }
        held.add(group);
        continue;
      }
      topic ??= message.topicArn;
      if (message.topicArn !== topic) {
        held.add(group);
        continue;
      }
      const run = runs.get(group);
      if (run === undefined) runs.set(group, [pending]);
      else run.push(pending);
      if (run?.length === MAX_BATCH_ENTRIES) held.add(group);
    }
    const batch: Pending[] = [];
    let bytes = 0;
    for (const run of runs.values()) {
      for (const pending of run) {
        if (batch.length === MAX_BATCH_ENTRIES) break;
        // Too large: the workgroup stops here, a smaller one may still fit.
        if (bytes + pending.message.size > this.#maxBatchBytes) break;
        bytes += pending.message.size;
        batch.push(pending);
      }
    }
    const taken = new Set(batch);
    this.#queue = this.#queue.filter((pending) => !taken.has(pending));
    return batch;
  }

  /** Publishes `messages` (of one workgroup) one at a time in order; a stop rejects the rest. */
  async #publishInOrder(messages: Pending[]): Promise<void> {
    for (const [i, pending] of messages.entries()) {
      try {
        await this.#publishOne(pending.message);
        pending.done.resolve();
      } catch (error) {
        for (const rest of messages.slice(i)) rest.done.reject(error);
        return;
      }
    }
  }

  async #publishOne(message: SnsMessage): Promise<void> {
    await this.retry(() =>
      this.#sns.send(
        new PublishCommand({
          TopicArn: message.topicArn,
          Message: message.body,
          MessageAttributes: message.attributes,
          MessageGroupId: message.event.workgroup,
          MessageDeduplicationId: message.event.id,
        }),
      )
    );
    this.#options.onSent?.(1);
  }

  async #publishBatch(batch: Pending[]): Promise<void> {
    const entries: PublishBatchRequestEntry[] = batch.map(({ message }, i) => ({
      Id: `e${i}`,
      Message: message.body,
      MessageAttributes: message.attributes,
      MessageGroupId: message.event.workgroup,
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
    /** Per workgroup, the entries to retry in order. */
    const retries = new Map<string, Pending[]>();
    batch.forEach((pending, i) => {
      const id = `e${i}`;
      const { event } = pending.message;
      const waiting = retries.get(event.workgroup);
      if (accepted.has(id)) {
        if (waiting !== undefined) {
          log.error(
            "SNS accepted entry {entry} (event {eventId}) of workgroup {workgroup} after refusing an earlier entry of the group in the same call; it may arrive out of order",
            { entry: id, eventId: event.id, workgroup: event.workgroup },
          );
        }
        pending.done.resolve();
        return;
      }
      const entry = failed.get(id);
      this.#failed(
        new EntryFailedError(
          entry === undefined,
          entry === undefined
            ? `SNS reported entry ${id} (event ${event.id}) neither successful nor failed`
            : `SNS refused entry ${id} (event ${event.id}): ${entry.Code}: ${entry.Message}`,
        ),
      );
      if (waiting === undefined) retries.set(event.workgroup, [pending]);
      else waiting.push(pending);
    });
    await Promise.all(
      [...retries.values()].map((group) => this.#publishInOrder(group)),
    );
  }
}
