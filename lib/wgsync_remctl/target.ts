/**
 * The consumer of one target's SQS FIFO queue, written for FIFO semantics
 * (npm:sqs-consumer runs a batch in parallel, breaking order within a group,
 * and its maintainers declined FIFO support).
 *
 * `concurrency` lanes each receive ONE message at a time (long polling). SQS
 * FIFO hands out no message of a group while another of that group is in
 * flight, so the lanes always work on different workgroups and each
 * workgroup runs strictly in order. Batches are not used on purpose: a batch
 * may bring several messages of one group, and when the first fails the
 * rest — never attempted — would be received again with it and gain receive
 * counts, reaching the dead-letter queue innocent.
 *
 * Per message: the visibility is extended while it is handled (stopped
 * before the delete); a claim-check pointer is resolved and the body parsed
 * first (poison → dead-letter queue at once, deleted from the source); the
 * command runs; exit 0 deletes it, another status (or a refusal by remctld)
 * releases it for a retry after a backoff, and its `command_attempts`-th
 * failure sends it to the dead-letter queue with the reason (attempts.ts:
 * the count is wgsync-remctl's own, as SQS's receive count also counts
 * kills and unanswered receives; the queue's maxReceiveCount is only a high
 * backstop). A transport, GSS, access or timeout failure pauses the target
 * instead: the message stays in hand and invisible and is retried after the
 * backoff, no lane receives meanwhile, so nothing counts because a server is
 * down.
 *
 * Order needs nothing more on AWS: a message's visibility is extended from
 * the moment it is received (also while it waits in the hand-off below), so
 * it cannot come back before a message received earlier, and a failed one is
 * released with a delay, during which it is still in flight and blocks its
 * group. The one copy SQS can hand out early is the same message again, when
 * its visibility lapsed because the heartbeat could not reach SQS (a frozen
 * or unreachable endpoint): it waits in the hand-off for its first copy.
 *
 * @module
 */

import {
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { S3Client } from "@aws-sdk/client-s3";
import { sleep } from "../async.ts";
import {
  ClaimCheckError,
  EXTENDED_PAYLOAD_SIZE_ATTRIBUTE,
  resolvePayload,
} from "../aws/mod.ts";
import { backoffDelay, resolveBackoff } from "../backoff.ts";
import {
  EventParseError,
  parseEvent,
  type WorkgroupEvent,
} from "../events/mod.ts";
import type { Logger } from "../log/mod.ts";
import { CommandAttempts } from "./attempts.ts";
import { Circuit } from "./circuit.ts";
import { describeQueue, type QueueInfo } from "./dead_letter.ts";
import { RemctlError } from "./errors.ts";
import { eventMatcher, type TargetMatch } from "./match.ts";
import type { RemctlPool } from "./pool.ts";
import { CommandTemplateError, renderCommand } from "./template.ts";
import { finishMessage, type Outcome } from "./outcome.ts";
import { MessageActions } from "./visibility.ts";
import type { TargetMetrics } from "./metrics.ts";

/** MESSAGE_ERROR codes that are the message's fault, not the server's. */
const MESSAGE_FAULT_CODES = new Set([4, 7, 8]);
const MISSING_OBJECT = new Set(["NoSuchKey", "NotFound", "NoSuchBucket"]);

/** Options of {@linkcode TargetConsumer}. */
export interface TargetConsumerOptions {
  name: string;
  queueUrl: string;
  command: readonly string[];
  match: TargetMatch;
  sqs: SQSClient;
  s3: S3Client;
  pool: RemctlPool;
  logger: Logger;
  metrics: TargetMetrics;
  /** Lanes (messages in flight). */
  concurrency: number;
  /** Longest command, in milliseconds. */
  timeoutMs: number;
  /** Longest pause of the target, in milliseconds. */
  maxPauseMs: number;
  /** After the stop began, how long a running command may still take before its message is released. */
  stopGraceMs: number;
  /** Failed runs of one message before it is dead-lettered. */
  commandAttempts: number;
  /** Long-poll wait per receive, in seconds. @default {RECEIVE_WAIT_SECONDS} */
  waitSeconds?: number;
}

/** The long-poll wait of a receive, in seconds (SQS's maximum). */
export const RECEIVE_WAIT_SECONDS = 20;

/** What STATUS= and /healthz show of a target. */
export interface TargetStatus {
  name: string;
  ready: boolean;
  done: number;
  failed: number;
  poison: number;
  skipped: number;
  inFlight: number;
  /** Seconds since the oldest in-flight message was sent, 0 when none. */
  oldestAgeSeconds: number;
  paused: boolean;
  pauseReason: string;
}

/** One target's lanes. */
export class TargetConsumer {
  #o: TargetConsumerOptions;
  #matches: (event: WorkgroupEvent) => boolean;
  #circuit: Circuit;
  #queue?: QueueInfo;
  #inFlight = new Map<string, number>();
  /** Per message group: settles true when its last message here was deleted. */
  #groupTails = new Map<string, Promise<boolean>>();
  #counts = { done: 0, failed: 0, poison: 0, skipped: 0 };
  #actions: MessageActions;
  #attempts: CommandAttempts;

  /** Prepares; {@linkcode start} checks the queue, {@linkcode run} consumes. */
  constructor(options: TargetConsumerOptions) {
    this.#o = options;
    this.#matches = eventMatcher(options.match);
    this.#actions = new MessageActions({
      sqs: options.sqs,
      queueUrl: options.queueUrl,
      target: options.name,
      logger: options.logger,
    });
    this.#attempts = new CommandAttempts({
      attempts: options.commandAttempts,
    });
    this.#circuit = new Circuit(
      resolveBackoff({ minDelay: 1_000, maxDelay: options.maxPauseMs }),
    );
  }

  /** The target's figures now. */
  status(): TargetStatus {
    const oldest = Math.min(...this.#inFlight.values());
    return {
      name: this.#o.name,
      ready: this.#queue !== undefined,
      ...this.#counts,
      inFlight: this.#inFlight.size,
      oldestAgeSeconds: this.#inFlight.size === 0
        ? 0
        : Math.max(0, Math.round((Date.now() - oldest) / 1000)),
      paused: this.#circuit.paused,
      pauseReason: this.#circuit.reason,
    };
  }

  /**
   * Reads the queue's attributes and finds its dead-letter queue, retrying
   * with backoff until it answers or `signal` aborts; returns whether it did.
   */
  async start(signal: AbortSignal): Promise<boolean> {
    const backoff = resolveBackoff({ minDelay: 500, maxDelay: 30_000 });
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        this.#queue = await describeQueue(this.#o.sqs, this.#o.queueUrl);
        this.#o.logger.info(
          "Target {target}: queue {queueUrl} answered, dead-letter queue {deadLetterUrl}, maxReceiveCount {maxReceiveCount}",
          { target: this.#o.name, queueUrl: this.#o.queueUrl, ...this.#queue },
        );
        if (this.#queue.maxReceiveCount <= 2 * this.#o.commandAttempts) {
          this.#o.logger.warn(
            "Target {target}: the queue's maxReceiveCount {maxReceiveCount} is not above twice command_attempts ({commandAttempts}): SQS may dead-letter a good message whose receives ended in kills or timeouts, without a reason; raise it (it is a backstop, README)",
            {
              target: this.#o.name,
              maxReceiveCount: this.#queue.maxReceiveCount,
              commandAttempts: this.#o.commandAttempts,
            },
          );
        }
        return true;
      } catch (error) {
        this.#o.logger.warn(
          "Target {target}: cannot read the queue {queueUrl} (attempt {attempt}): {error}",
          { target: this.#o.name, queueUrl: this.#o.queueUrl, attempt, error },
        );
        await sleep(backoffDelay(backoff, attempt), { signal });
      }
    }
    return false;
  }

  /** Runs the lanes until `signal` aborts and every lane has finished or released its message. */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.all(
      Array.from({ length: this.#o.concurrency }, () => this.#lane(signal)),
    );
  }

  async #lane(signal: AbortSignal): Promise<void> {
    const receiveBackoff = resolveBackoff({ minDelay: 500, maxDelay: 30_000 });
    let receiveFailures = 0;
    while (!signal.aborted) {
      await this.#circuit.closed(signal);
      if (signal.aborted) break;
      let messages: Message[];
      try {
        const reply = await this.#o.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.#o.queueUrl,
            MaxNumberOfMessages: 1,
            WaitTimeSeconds: this.#o.waitSeconds ?? RECEIVE_WAIT_SECONDS,
            MessageSystemAttributeNames: ["All"],
            MessageAttributeNames: ["All"],
          }),
          { abortSignal: signal },
        );
        messages = reply.Messages ?? [];
        receiveFailures = 0;
      } catch (error) {
        if (signal.aborted) break;
        receiveFailures++;
        this.#o.logger.warn(
          "Target {target}: cannot receive from {queueUrl}: {error}",
          { target: this.#o.name, queueUrl: this.#o.queueUrl, error },
        );
        await sleep(backoffDelay(receiveBackoff, receiveFailures), { signal });
        continue;
      }
      // A message received as the stop began is handled like any other: the
      // handler releases it at once when the stop has begun.
      for (const message of messages) await this.#handle(message, signal);
    }
  }

  async #handle(message: Message, signal: AbortSignal): Promise<void> {
    const id = message.MessageId ?? "(no id)";
    const sent = Number(message.Attributes?.SentTimestamp ?? Date.now());
    this.#inFlight.set(id, sent);
    this.#o.metrics.queueAge.observe(Math.max(0, (Date.now() - sent) / 1000));
    const heartbeat = this.#actions.heartbeat(
      message,
      this.#queue?.visibilityTimeoutSeconds ?? 30,
    );
    // SQS FIFO never hands out a second message of a group in flight, but it
    // hands out the same message again once its visibility lapsed (heartbeat
    // unanswered): such a copy waits for the one before it, and is released
    // when that one was.
    const group = message.Attributes?.MessageGroupId ?? "";
    const before = this.#groupTails.get(group);
    let settle!: (deleted: boolean) => void;
    const mine = new Promise<boolean>((resolve) => settle = resolve);
    this.#groupTails.set(group, mine);
    let deleted = false;
    try {
      if (before !== undefined) {
        this.#o.logger.debug(
          "Target {target}: message {messageId} waits for the one before it in {workgroup}",
          {
            target: this.#o.name,
            messageId: id,
            workgroup: group,
          },
        );
        if (!await before) {
          heartbeat.stop();
          await this.#actions.release(message, 0);
          return;
        }
      }
      const outcome = await this.#process(message, signal);
      heartbeat.stop();
      deleted = await finishMessage(
        {
          target: this.#o.name,
          sqs: this.#o.sqs,
          deadLetterUrl: this.#queue!.deadLetterUrl,
          actions: this.#actions,
          attempts: this.#attempts,
          logger: this.#o.logger,
          metrics: this.#o.metrics,
          counts: this.#counts,
        },
        message,
        outcome,
      );
    } finally {
      heartbeat.stop();
      this.#inFlight.delete(id);
      settle(deleted);
      if (this.#groupTails.get(group) === mine) this.#groupTails.delete(group);
    }
  }

  async #process(message: Message, signal: AbortSignal): Promise<Outcome> {
    let event: WorkgroupEvent;
    try {
      const body = await resolvePayload(this.#o.s3, message.Body ?? "", {
        size: message.MessageAttributes?.[EXTENDED_PAYLOAD_SIZE_ATTRIBUTE]
          ?.StringValue,
      });
      event = parseEvent(body);
    } catch (error) {
      const transient = error instanceof ClaimCheckError &&
        error.cause instanceof Error && !MISSING_OBJECT.has(error.cause.name);
      if (
        error instanceof EventParseError ||
        (error instanceof ClaimCheckError && !transient)
      ) {
        return { kind: "poison", reason: (error as Error).message };
      }
      // S3 unreachable: not the message's fault; let it come back later.
      this.#o.logger.warn(
        "Target {target}: cannot read message {messageId}: {error}",
        {
          target: this.#o.name,
          messageId: message.MessageId,
          error,
        },
      );
      return { kind: "release", delaySeconds: 5 };
    }
    if (!this.#matches(event)) return { kind: "skip", event };
    let args: Uint8Array[];
    try {
      args = renderCommand(this.#o.command, event);
    } catch (error) {
      if (!(error instanceof CommandTemplateError)) throw error;
      return { kind: "poison", reason: error.message, event };
    }
    for (;;) {
      if (signal.aborted) return { kind: "release", delaySeconds: 0 };
      const started = performance.now();
      try {
        const result = await this.#untilStopGrace(
          this.#o.pool.run(args, { timeoutMs: this.#o.timeoutMs }),
          signal,
        );
        if (result === undefined) {
          this.#o.logger.warn(
            "Target {target}: released {eventId} as its command outlasted the stop grace",
            { target: this.#o.name, eventId: event.id },
          );
          return { kind: "release", delaySeconds: 0, event };
        }
        this.#o.metrics.latency.observe((performance.now() - started) / 1000);
        if (this.#circuit.succeed()) {
          this.#o.logger.info(
            "Target {target}: resumed, the server answers again",
            {
              target: this.#o.name,
            },
          );
        }
        return { kind: "ran", event, result };
      } catch (error) {
        if (!(error instanceof RemctlError)) throw error;
        if (
          error.kind === "remote" && MESSAGE_FAULT_CODES.has(error.code ?? 0)
        ) {
          return { kind: "refused", event, reason: error.message };
        }
        if (this.#circuit.fail(error.message)) {
          this.#o.logger.warn(
            "Target {target}: paused, the remctl server fails ({kind}): {error}",
            {
              target: this.#o.name,
              kind: error.kind,
              error: error.message,
              eventId: event.id,
            },
          );
        }
        this.#o.metrics.runs.inc({ result: `target_${error.kind}` });
        await this.#circuit.retryTime(signal);
      }
    }
  }

  /** `running`'s result, or undefined when the stop began and the grace passed first. */
  async #untilStopGrace<T>(
    running: Promise<T>,
    signal: AbortSignal,
  ): Promise<T | undefined> {
    running.catch(() => {}); // a command outliving the grace fails unobserved
    let onAbort = () => {};
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<undefined>((resolve) => {
      onAbort = () => {
        timer = setTimeout(() => resolve(undefined), this.#o.stopGraceMs);
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([running, grace]);
    } finally {
      signal.removeEventListener("abort", onAbort);
      clearTimeout(timer);
    }
  }
}
