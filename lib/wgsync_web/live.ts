/**
 * Live events: the site's own SQS FIFO queue, subscribed to the topic with
 * RawMessageDelivery and no filter, is read continuously; each message is
 * kept in memory (the most recent {@linkcode LiveEventsOptions.keep}) and
 * handed to the live pages' subscribers, then deleted (the queue is only the
 * site's feed: what arrives while the site is down waits there).
 *
 * The list is built from the message attributes every event carries (`type`,
 * `stem`, `workgroup`; the dedup id is the event id), so an event whose body
 * is large or stored in S3 (claim-check pointer) is listed without reading
 * it; a member event's member and a rename's previous name come from the body
 * when it is an inline event (read with lib/events' strict parser). A body
 * that is not an event is listed with the parser's reason, never dropped.
 *
 * @module
 */
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { sleep } from "../async.ts";
import { parsePointer } from "../aws/mod.ts";
import { backoffDelay, resolveBackoff } from "../backoff.ts";
import { parseEvent, type WorkgroupEvent } from "../events/mod.ts";
import { getLogger } from "../log/mod.ts";

/** One event as the live list shows it. */
export interface LiveEvent {
  /** When the site received it, ms since the epoch. */
  receivedAt: number;
  /** The event id (the message's deduplication id). */
  id: string;
  type: string;
  stem: string;
  workgroup: string;
  seq?: number;
  /** For member events: the member's uid, else its DN. */
  member?: string;
  /** For renames: the old name. */
  previous?: string;
  /** For created/snapshot: the number of members. */
  members?: number;
  /** The body is in S3 (claim-check pointer). */
  offloaded?: boolean;
  /** Why the body could not be read. */
  problem?: string;
}

/** What the live list can be filtered by. */
export interface LiveFilter {
  stem?: string;
  /** A part of the workgroup name (the whole name with `exact`). */
  workgroup?: string;
  type?: string;
  /** Match `workgroup` exactly (a workgroup's own page). */
  exact?: boolean;
}

/** Options for {@linkcode LiveEvents}. */
export interface LiveEventsOptions {
  /** Events kept in memory. @default {2000} */
  keep?: number;
  /** SQS long-poll wait, in seconds. @default {LIVE_WAIT_SECONDS} */
  waitSeconds?: number;
}

const logger = getLogger("web");

/**
 * The long poll of each receive, in seconds. The SQS client's request
 * timeout must be longer (see `mod.ts`): a receive cut off by the client
 * still takes its messages out of sight for the visibility timeout.
 */
export const LIVE_WAIT_SECONDS = 20;

/** Whether `event` passes `filter`. */
export function matches(event: LiveEvent, filter: LiveFilter): boolean {
  return (!filter.stem || event.stem === filter.stem) &&
    (!filter.type || event.type === filter.type) &&
    (!filter.workgroup ||
      (filter.exact
        ? event.workgroup === filter.workgroup
        : event.workgroup.includes(filter.workgroup)));
}

/** The site's feed of events. */
export class LiveEvents {
  #sqs: SQSClient | undefined;
  #queueUrl: string | undefined;
  #keep: number;
  #waitSeconds: number;
  #events: LiveEvent[] = [];
  #listeners = new Set<(event: LiveEvent) => void>();
  #lastError: string | undefined;

  /** Reads `queueUrl` with `sqs`; without them the list stays empty. */
  constructor(
    sqs: SQSClient | undefined,
    queueUrl: string | undefined,
    options: LiveEventsOptions = {},
  ) {
    this.#sqs = sqs;
    this.#queueUrl = queueUrl;
    this.#keep = options.keep ?? 2000;
    this.#waitSeconds = options.waitSeconds ?? LIVE_WAIT_SECONDS;
  }

  /** Whether a queue is configured. */
  get configured(): boolean {
    return this.#queueUrl !== undefined;
  }

  /** How many events are kept. */
  get size(): number {
    return this.#events.length;
  }

  /** The last receive failure, cleared by the next success. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** The kept events matching `filter`, newest first. */
  recent(filter: LiveFilter = {}, limit = 200): LiveEvent[] {
    const found: LiveEvent[] = [];
    for (let i = this.#events.length - 1; i >= 0 && found.length < limit; i--) {
      if (matches(this.#events[i], filter)) found.push(this.#events[i]);
    }
    return found;
  }

  /** Calls `listener` for every new event; returns the unsubscriber. */
  subscribe(listener: (event: LiveEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Receives until `signal` aborts; failures are retried with backoff. */
  async run(signal: AbortSignal): Promise<void> {
    const sqs = this.#sqs;
    const queueUrl = this.#queueUrl;
    if (sqs === undefined || queueUrl === undefined) return;
    const backoff = resolveBackoff({ minDelay: 1000, maxDelay: 30_000 });
    let failures = 0;
    while (!signal.aborted) {
      try {
        const answer = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: this.#waitSeconds,
            MessageAttributeNames: ["All"],
            MessageSystemAttributeNames: ["MessageDeduplicationId"],
          }),
          { abortSignal: signal },
        );
        const messages = answer.Messages ?? [];
        for (const message of messages) this.#add(toLiveEvent(message));
        if (messages.length > 0) {
          await sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: messages.map((message, i) => ({
                Id: String(i),
                ReceiptHandle: message.ReceiptHandle,
              })),
            }),
          );
        }
        failures = 0;
        this.#lastError = undefined;
      } catch (error) {
        if (signal.aborted) return;
        failures++;
        this.#lastError = error instanceof Error
          ? error.message
          : String(error);
        if (failures === 1) {
          logger.warning(
            "Cannot receive live events from {queueUrl}: {error}; retrying",
            { queueUrl, error: this.#lastError },
          );
        }
        await sleep(backoffDelay(backoff, failures), { signal });
      }
    }
  }

  #add(event: LiveEvent): void {
    this.#events.push(event);
    if (this.#events.length > this.#keep) {
      this.#events.splice(0, this.#events.length - this.#keep);
    }
    for (const listener of this.#listeners) listener(event);
  }
}

/** A received message as a live event. */
export function toLiveEvent(message: Message): LiveEvent {
  const attribute = (name: string) =>
    message.MessageAttributes?.[name]?.StringValue ?? "";
  const event: LiveEvent = {
    receivedAt: Date.now(),
    id: message.Attributes?.MessageDeduplicationId ?? message.MessageId ?? "",
    type: attribute("type"),
    stem: attribute("stem"),
    workgroup: attribute("workgroup"),
  };
  const text = message.Body ?? "";
  try {
    if (parsePointer(text) !== undefined) {
      event.offloaded = true;
      return event;
    }
  } catch (error) {
    event.problem = error instanceof Error ? error.message : String(error);
    return event;
  }
  let body: WorkgroupEvent;
  try {
    body = parseEvent(text);
  } catch (error) {
    event.problem = error instanceof Error ? error.message : String(error);
    return event;
  }
  // The attributes are what subscribers filter on; the body is the event.
  event.type ||= body.type;
  event.workgroup ||= body.workgroup;
  event.stem ||= body.stem;
  event.seq = body.seq;
  if (body.member !== undefined) {
    event.member = body.member.uid ?? body.member.dn;
  }
  if (body.previous !== undefined) event.previous = body.previous;
  if (body.members !== undefined) event.members = body.members.length;
  return event;
}
