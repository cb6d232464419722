/**
 * The consumer of one target's SQS FIFO queue, written for FIFO semantics
 * (npm:sqs-consumer runs a batch in parallel, breaking order within a group,
 * and its maintainers declined FIFO support).
 *
 * One long poll per target receives up to 10 messages a call — SQS (and the
 * stack's moto) hand out several messages of one group in one call, in
 * order, and none of a group while one of it is in flight — while fewer
 * than `concurrency` message groups are held. The messages go to one lane
 * per group (group_lanes.ts): a group's messages run one after the other,
 * the next as soon as the one before it SUCCEEDED, and up to `concurrency`
 * groups run at once. A message group is the workgroup's stem (wgsync-event
 * sets MessageGroupId so), so lanes work on different stems.
 *
 * Per message, from its receipt: its visibility is extended while it is
 * held, also while it waits for its turn (heartbeat.ts), and stops being
 * extended before it is deleted or released. Its turn (message_run.ts): a
 * claim-check pointer resolved and the body parsed (poison → dead-letter
 * queue at once, deleted from the source), the command run; exit 0 hands it
 * to the deleter, which deletes in the background and in batches
 * (deleter.ts says why order and at-least-once survive that); another
 * status (or a refusal by remctld) releases it for a retry after a backoff,
 * and its `command_attempts`-th failure sends it to the dead-letter queue
 * with the reason (attempts.ts: the count is wgsync-remctl's own, as SQS's
 * receive count also counts kills and unanswered receives; the queue's
 * maxReceiveCount is only a high backstop). A message released, the rest of
 * its group held here is released at once without running (they gain a
 * receive, not a failed attempt). A transport, GSS, access or timeout
 * failure pauses the target instead: the message stays in hand and
 * invisible and is retried after the backoff, nothing new is received
 * meanwhile, so nothing counts because a server is down.
 *
 * Order needs nothing more on AWS: a held message cannot come back before
 * one received earlier, and a failed one is released with a delay, during
 * which it is still in flight and blocks its group. The one copy SQS can
 * hand out early is the same message again, when its visibility lapsed
 * because the heartbeat could not reach SQS (a frozen or unreachable
 * endpoint): it waits in its group's lane for its first copy.
 *
 * The stop: no more receives (a poll out while messages are held is short,
 * and awaited: see #receive); the messages not started are released at
 * once (visibility 0), also those that poll brings, the running commands
 * get the stop grace, and the pending deletes are awaited.
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
import { backoffDelay, resolveBackoff } from "../backoff.ts";
import type { Logger } from "../log/mod.ts";
import { CommandAttempts } from "./attempts.ts";
import { Circuit } from "./circuit.ts";
import { describeQueue, type QueueInfo } from "./dead_letter.ts";
import { Deleter } from "./deleter.ts";
import { GroupLanes } from "./group_lanes.ts";
import { Heartbeat } from "./heartbeat.ts";
import { eventMatcher, type TargetMatch } from "./match.ts";
import { type MessageRunContext, runMessage } from "./message_run.ts";
import type { RemctlPool } from "./pool.ts";
import { type FinishContext, finishMessage } from "./outcome.ts";
import { MessageActions, SQS_BATCH_ENTRIES } from "./visibility.ts";
import type { TargetMetrics } from "./metrics.ts";

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
  /** Message groups whose commands run at once. */
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

/**
 * The long-poll wait of a receive while messages are held, in seconds: the
 * stop waits for it (it still returns at once when a message arrives).
 */
export const HOLDING_WAIT_SECONDS = 2;

/** What STATUS= and /healthz show of a target. */
export interface TargetStatus {
  name: string;
  ready: boolean;
  done: number;
  failed: number;
  poison: number;
  skipped: number;
  /** Messages held: running, or waiting for their turn. */
  inFlight: number;
  /** Seconds since the oldest in-flight message was sent, 0 when none. */
  oldestAgeSeconds: number;
  paused: boolean;
  pauseReason: string;
}

/** After the stop began, how long a poll out while messages are held may still take. */
const STOP_POLL_MS = (HOLDING_WAIT_SECONDS + 3) * 1000;

/** A signal that aborts `ms` after `signal` did, until `done()` (which removes its listener). */
function abortedAfter(
  signal: AbortSignal,
  ms: number,
): { signal: AbortSignal; done(): void } {
  const later = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const onAbort = () => {
    timer = setTimeout(() => later.abort(signal.reason), ms);
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  return {
    signal: later.signal,
    done() {
      signal.removeEventListener("abort", onAbort);
      clearTimeout(timer);
    },
  };
}

/** A received message and its group. */
interface Held {
  message: Message;
  group: string;
}

/** One target's receive loop and group lanes. */
export class TargetConsumer {
  #o: TargetConsumerOptions;
  #circuit: Circuit;
  #queue?: QueueInfo;
  #inFlight = new Map<string, number>();
  #counts = { done: 0, failed: 0, poison: 0, skipped: 0 };
  #actions: MessageActions;
  #deleter: Deleter;
  #attempts: CommandAttempts;
  #runContext: MessageRunContext;
  /** Releases under way, awaited by the stop. */
  #releases = new Set<Promise<void>>();

  /** Prepares; {@linkcode start} checks the queue, {@linkcode run} consumes. */
  constructor(options: TargetConsumerOptions) {
    this.#o = options;
    this.#actions = new MessageActions({
      sqs: options.sqs,
      queueUrl: options.queueUrl,
    });
    this.#deleter = new Deleter({
      actions: this.#actions,
      target: options.name,
      logger: options.logger,
    });
    this.#attempts = new CommandAttempts({
      attempts: options.commandAttempts,
    });
    this.#circuit = new Circuit(
      resolveBackoff({ minDelay: 1_000, maxDelay: options.maxPauseMs }),
    );
    this.#runContext = {
      target: options.name,
      s3: options.s3,
      matches: eventMatcher(options.match),
      command: options.command,
      pool: options.pool,
      circuit: this.#circuit,
      logger: options.logger,
      metrics: options.metrics,
      timeoutMs: options.timeoutMs,
      stopGraceMs: options.stopGraceMs,
    };
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

  /**
   * Receives and runs messages until `signal` aborts, then releases those
   * not started, lets the running ones finish (or outlast the stop grace)
   * and waits for their deletes.
   */
  async run(signal: AbortSignal): Promise<void> {
    const heartbeat = new Heartbeat({
      actions: this.#actions,
      visibilitySeconds: this.#queue?.visibilityTimeoutSeconds ?? 30,
      target: this.#o.name,
      logger: this.#o.logger,
    });
    const release = (items: Held[]) => this.#release(items, heartbeat, 0);
    const lanes = new GroupLanes<Held>({
      concurrency: this.#o.concurrency,
      run: (held) => this.#handle(held, heartbeat, signal),
      abandon: release,
    });
    const releaseQueued = () => release(lanes.takeQueued());
    signal.addEventListener("abort", releaseQueued, { once: true });
    try {
      await this.#receive(lanes, heartbeat, signal);
    } finally {
      signal.removeEventListener("abort", releaseQueued);
      releaseQueued();
      await lanes.idle();
      while (this.#releases.size > 0) await Promise.all(this.#releases);
      await this.#deleter.flushed();
      heartbeat.stop();
    }
    if (lanes.error !== undefined) throw lanes.error;
  }

  async #receive(
    lanes: GroupLanes<Held>,
    heartbeat: Heartbeat,
    signal: AbortSignal,
  ): Promise<void> {
    const receiveBackoff = resolveBackoff({ minDelay: 500, maxDelay: 30_000 });
    let receiveFailures = 0;
    while (!signal.aborted && lanes.error === undefined) {
      await this.#circuit.closed(signal);
      await lanes.room(signal);
      if (signal.aborted) break;
      // Holding messages, the poll is short and the stop lets it finish:
      // a poll given up on would stay open in SQS (a connection closed by
      // the client is not noticed while the poll waits) and take the
      // messages the stop releases, for nobody, until their visibility
      // ends. Holding none, there is nothing to release: the stop aborts it.
      // (An SQS that does not answer at all is given up on STOP_POLL_MS
      // after the stop began, not after the SDK's attempts.)
      const holding = lanes.groups > 0;
      const poll = abortedAfter(signal, holding ? STOP_POLL_MS : 0);
      let messages: Message[];
      try {
        const reply = await this.#o.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.#o.queueUrl,
            MaxNumberOfMessages: SQS_BATCH_ENTRIES,
            WaitTimeSeconds: holding
              ? HOLDING_WAIT_SECONDS
              : this.#o.waitSeconds ?? RECEIVE_WAIT_SECONDS,
            MessageSystemAttributeNames: ["All"],
            MessageAttributeNames: ["All"],
          }),
          { abortSignal: poll.signal },
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
      } finally {
        poll.done();
      }
      if (messages.length > 0) {
        this.#o.metrics.received.observe(messages.length);
      }
      const held = messages.map((message) => this.#hold(message, heartbeat));
      if (signal.aborted) {
        // Received as the stop began: released at once like those queued.
        this.#release(held, heartbeat, 0);
        break;
      }
      const before = new Set(held.map((h) => h.group).filter(lanes.has, lanes));
      for (const item of held) {
        if (before.has(item.group)) {
          this.#o.logger.debug(
            "Target {target}: message {messageId} waits for the one before it in {group}",
            {
              target: this.#o.name,
              messageId: item.message.MessageId,
              group: item.group,
            },
          );
        }
        lanes.push(item.group, item);
      }
    }
  }

  /** Counts `message` as held from its receipt and keeps it invisible. */
  #hold(message: Message, heartbeat: Heartbeat): Held {
    const sent = Number(message.Attributes?.SentTimestamp ?? Date.now());
    this.#inFlight.set(message.MessageId ?? "(no id)", sent);
    this.#o.metrics.queueAge.observe(Math.max(0, (Date.now() - sent) / 1000));
    heartbeat.add(message);
    return { message, group: message.Attributes?.MessageGroupId ?? "" };
  }

  /** One message's turn; true when it is done with (ran, dead-lettered or skipped). */
  async #handle(
    held: Held,
    heartbeat: Heartbeat,
    signal: AbortSignal,
  ): Promise<boolean> {
    const { message } = held;
    try {
      const outcome = await runMessage(this.#runContext, message, signal);
      heartbeat.remove(message);
      return await finishMessage(
        this.#finishContext(heartbeat),
        message,
        outcome,
      );
    } finally {
      heartbeat.remove(message);
      this.#inFlight.delete(message.MessageId ?? "(no id)");
    }
  }

  #finishContext(heartbeat: Heartbeat): FinishContext {
    return {
      target: this.#o.name,
      sqs: this.#o.sqs,
      deadLetterUrl: this.#queue!.deadLetterUrl,
      deleter: this.#deleter,
      release: (message, delaySeconds) =>
        this.#release([{ message, group: "" }], heartbeat, delaySeconds),
      attempts: this.#attempts,
      logger: this.#o.logger,
      metrics: this.#o.metrics,
      counts: this.#counts,
    };
  }

  /** Makes `items` visible again after `delaySeconds`; the stop awaits it. */
  #release(
    items: readonly Held[],
    heartbeat: Heartbeat,
    delaySeconds: number,
  ): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    const messages = items.map((item) => item.message);
    for (const message of messages) {
      heartbeat.remove(message);
      this.#inFlight.delete(message.MessageId ?? "(no id)");
    }
    const release = this.#actions.changeVisibility(messages, delaySeconds)
      .then((failures) => {
        for (const { message, reason } of failures) {
          this.#o.logger.error(
            "Target {target}: cannot release message {messageId}: {error}",
            {
              target: this.#o.name,
              messageId: message.MessageId,
              error: reason,
            },
          );
        }
      }).finally(() => this.#releases.delete(release));
    this.#releases.add(release);
    return release;
  }
}
