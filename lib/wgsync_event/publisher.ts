/**
 * Publishing to SNS FIFO: messages waiting at the same time for the same
 * topic go out together with `PublishBatch` (at most 10 entries, their total
 * size within the limit); a message alone, or one carrying a claim-check
 * pointer, goes out with `Publish`. `MessageGroupId` is the message's group
 * (message.ts `messageGroupId`: the workgroup's stem, so renames and re-used
 * names keep their order; README, "what subscribers receive") and
 * `MessageDeduplicationId` the event id. A message's promise resolves only
 * once SNS accepted it.
 *
 * Order per group: messages are queued in the order `publish` was called
 * (the pipeline calls it in the channel's arrival order per group, several
 * of a group at once), and a group has at most one call in flight (SNS FIFO
 * keeps the order of a group's entries within one call and across calls one
 * after the other, not across concurrent calls). A batch takes the queue in
 * order, skipping groups with a call in flight, so it mixes groups and holds
 * several consecutive messages of one; a group's first message that cannot
 * join (another topic, too large, to be sent alone) holds back its later
 * ones. After a batch, per group: entries up to the first one SNS refused
 * (or left out of both the Successful and Failed lists, as moto does) are
 * done; that entry and every later entry of its group in the batch, whatever
 * SNS said of them, are sent again one at a time in order with `Publish`
 * (AWS does not say whether SNS may accept a group's later entry after
 * refusing an earlier one in the same call; if it did, that message went out
 * early and the re-send is its duplicate, which SNS's de-duplication drops —
 * logged), and the group's queued messages wait for them.
 *
 * Failures: a call that fails as a whole (throttled, unreachable, 5xx) is
 * retried with backoff and jitter until it succeeds or the publisher is
 * stopped, which rejects every message not yet accepted (the channel gives
 * them back). The calls in flight adapt to the endpoint (call_limit.ts).
 *
 * @module
 */

import {
  PublishBatchCommand,
  type PublishBatchRequestEntry,
  type PublishBatchResponse,
  PublishCommand,
  type SNSClient,
} from "@aws-sdk/client-sns";
import { getLogger } from "../log/mod.ts";
import { optionChecks } from "../options.ts";
import { CallLimit } from "./call_limit.ts";
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
  /** The most publish calls in flight at once. @default {16} */
  concurrency?: number;
  /**
   * An accepted call slower than this (ms) makes the publisher halve its
   * calls in flight (call_limit.ts).
   * @default {2500} (a quarter of lib/aws's default request timeout)
   */
  slowCallMs?: number;
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
  /** To be sent with Publish on its own (a claim-check pointer, or too large to share). */
  alone: boolean;
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

const log = getLogger("event");

/** Batches and publishes messages; see the module comment. */
export class Publisher {
  #sns: SNSClient;
  #maxBatchBytes: number;
  #options: PublisherOptions;
  #queue: Pending[] = [];
  #running = 0;
  #calls: CallLimit;
  /** Groups with a call (or its entries' re-sends) in flight. */
  #busy = new Set<string>();
  #scheduled = false;
  #stop = new AbortController();
  #failing = false;

  /** Constructs a Publisher. */
  constructor(options: PublisherOptions) {
    const check = optionChecks("publish to SNS");
    check.positiveInteger("maxBatchBytes", options.maxBatchBytes);
    this.#calls = new CallLimit({
      max: check.positiveInteger("concurrency", options.concurrency ?? 16),
      slowCallMs: check.positiveNumber(
        "slowCallMs",
        options.slowCallMs ?? 2500,
      ),
    });
    this.#sns = options.sns;
    this.#maxBatchBytes = options.maxBatchBytes;
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

  /** Calls that may be in flight now (between 1 and `concurrency`). */
  get limit(): number {
    return this.#calls.limit;
  }

  /**
   * Queues `message` behind its group's earlier ones; resolves once SNS
   * accepted it, rejects only when the publisher is stopped.
   */
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

  /** Runs `attempt` (e.g. a lookup or an S3 write) with retries until it succeeds or the publisher stops. */
  async retry<T>(attempt: () => Promise<T>): Promise<T> {
    const value = await retryUntilDone(attempt, {
      signal: this.#stop.signal,
      backoff: this.#options.backoff,
      onFailure: (error, { delay }) => this.#failed(error, delay),
    });
    this.#recovered();
    return value;
  }

  /** An SNS call with retries; its attempts feed the call limit. */
  async #call<T>(send: () => Promise<T>): Promise<T> {
    let token = 0;
    let at = 0;
    const value = await retryUntilDone(() => {
      token = this.#calls.started();
      at = performance.now();
      return send();
    }, {
      signal: this.#stop.signal,
      backoff: this.#options.backoff,
      onFailure: (error, { delay }) => this.#failed(error, delay, token),
    });
    this.#calls.succeeded(token, performance.now() - at);
    this.#recovered();
    return value;
  }

  #failed(error: unknown, delay?: number, token?: number): void {
    this.#failing = true;
    const reason = failureReason(error);
    if (
      token !== undefined &&
      (reason === "throttled" || reason === "unreachable")
    ) {
      this.#calls.overloaded(token);
    }
    this.#options.onFailure?.(reason, error, delay);
  }

  #recovered(): void {
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
    while (this.#running < this.#calls.limit) {
      const batch = this.#take();
      if (batch.length === 0) break;
      const groups = new Set(batch.map((pending) => pending.message.groupId));
      for (const group of groups) this.#busy.add(group);
      this.#running++;
      const sent = batch.length === 1
        ? this.#publishInOrder(batch)
        : this.#publishBatch(batch, groups);
      sent.finally(() => {
        this.#running--;
        for (const group of groups) this.#busy.delete(group);
        // What waited for this call goes now; new arrivals still gather.
        this.#drain();
      });
    }
  }

  /**
   * Takes up to 10 messages of the first free message's topic, within the
   * size limit, in queue order, skipping groups with a call in flight; a
   * group's first message that cannot join holds back its later ones. A
   * message to be sent alone is taken alone.
   */
  #take(): Pending[] {
    const held = new Set(this.#busy);
    const batch: Pending[] = [];
    const rest: Pending[] = [];
    let topic: string | undefined;
    let bytes = 0;
    let i = 0;
    for (; i < this.#queue.length && batch.length < MAX_BATCH_ENTRIES; i++) {
      const pending = this.#queue[i];
      const { message } = pending;
      if (held.has(message.groupId)) {
        rest.push(pending);
        continue;
      }
      if (pending.alone && batch.length === 0) {
        batch.push(pending);
        i++;
        break;
      }
      topic ??= message.topicArn;
      if (
        pending.alone || message.topicArn !== topic ||
        bytes + message.size > this.#maxBatchBytes
      ) {
        held.add(message.groupId);
        rest.push(pending);
        continue;
      }
      bytes += message.size;
      batch.push(pending);
    }
    if (batch.length > 0) {
      for (; i < this.#queue.length; i++) rest.push(this.#queue[i]);
      this.#queue = rest;
    }
    return batch;
  }

  /** Publishes `messages` (of one group) one at a time in order; a stop rejects the rest. */
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
    await this.#call(() =>
      this.#sns.send(
        new PublishCommand({
          TopicArn: message.topicArn,
          Message: message.body,
          MessageAttributes: message.attributes,
          MessageGroupId: message.groupId,
          MessageDeduplicationId: message.event.id,
        }),
      )
    );
    this.#options.onSent?.(1);
  }

  /** Sends `batch`; `groups` (its groups, all busy) loses each group as soon as it is done. */
  async #publishBatch(batch: Pending[], groups: Set<string>): Promise<void> {
    const entries: PublishBatchRequestEntry[] = batch.map(({ message }, i) => ({
      Id: `e${i}`,
      Message: message.body,
      MessageAttributes: message.attributes,
      MessageGroupId: message.groupId,
      MessageDeduplicationId: message.event.id,
    }));
    let result: PublishBatchResponse;
    try {
      result = await this.#call(() =>
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
    const { accepted, resend } = this.#settle(batch, result);
    // Groups without re-sends are free now: their next call goes out before
    // the acknowledgements of this one are worked through.
    for (const group of [...groups]) {
      if (resend.has(group)) continue;
      groups.delete(group);
      this.#busy.delete(group);
    }
    this.#drain();
    for (const pending of accepted) pending.done.resolve();
    await Promise.all(
      [...resend.values()].map((group) => this.#publishInOrder(group)),
    );
  }

  /**
   * Sorts a batch's entries: those SNS accepted before any refusal of their
   * group are done; per group, the refused one and the group's later ones
   * are to be sent again in order.
   */
  #settle(
    batch: Pending[],
    result: PublishBatchResponse,
  ): { accepted: Pending[]; resend: Map<string, Pending[]> } {
    const accepted = new Set(
      (result.Successful ?? []).map((entry) => entry.Id),
    );
    const failed = new Map(
      (result.Failed ?? []).map((entry) => [entry.Id, entry]),
    );
    this.#options.onSent?.(accepted.size);
    const done: Pending[] = [];
    const resend = new Map<string, Pending[]>();
    batch.forEach((pending, i) => {
      const id = `e${i}`;
      const { event, groupId } = pending.message;
      const waiting = resend.get(groupId);
      if (waiting !== undefined) {
        if (accepted.has(id)) {
          log.warn(
            "SNS accepted entry {entry} (event {eventId}) of group {groupId} after refusing an earlier entry of the group in the same call; sending it again after that one (SNS drops the copy by its de-duplication id)",
            { entry: id, eventId: event.id, groupId },
          );
        }
        waiting.push(pending);
        return;
      }
      if (accepted.has(id)) {
        done.push(pending);
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
      resend.set(groupId, [pending]);
    });
    return { accepted: done, resend };
  }
}
