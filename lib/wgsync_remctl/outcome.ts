/**
 * The end of one message's handling: what its outcome means for the queue
 * (delete — in the background, deleter.ts —, release for SQS to retry,
 * dead-letter at once) and what the journal and the metrics record of it.
 *
 * @module
 */

import type { Message, SQSClient } from "@aws-sdk/client-sqs";
import type { WorkgroupEvent } from "../events/mod.ts";
import type { CommandAttempts } from "./attempts.ts";
import type { Logger } from "../log/mod.ts";
import type { RemctlResult } from "./connection.ts";
import { sendToDeadLetter } from "./dead_letter.ts";
import type { Deleter } from "./deleter.ts";
import type { TargetMetrics } from "./metrics.ts";

/** How a message's handling ended. */
export type Outcome =
  | { kind: "ran"; event: WorkgroupEvent; result: RemctlResult }
  | { kind: "refused"; event: WorkgroupEvent; reason: string }
  | { kind: "poison"; reason: string; event?: WorkgroupEvent }
  | { kind: "skip"; event: WorkgroupEvent }
  | { kind: "release"; delaySeconds: number; event?: WorkgroupEvent };

/** What {@linkcode finishMessage} acts with. */
export interface FinishContext {
  target: string;
  sqs: SQSClient;
  deadLetterUrl: string;
  /** Deletes a message that is done with, in the background. */
  deleter: Deleter;
  /** Makes a message visible again after `delaySeconds` (failures logged). */
  release(message: Message, delaySeconds: number): Promise<void>;
  logger: Logger;
  metrics: TargetMetrics;
  /** Failed runs per message: retry or dead-letter. */
  attempts: CommandAttempts;
  /** Counted per outcome, for STATUS=. */
  counts: { done: number; failed: number; poison: number; skipped: number };
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/**
 * Deletes, releases or dead-letters the message after its outcome, logs the
 * run (stdout, stderr, exit status, event id) and counts it; true when the
 * message is done with (the next of its group may run): it ran, or was
 * dead-lettered or skipped, and its delete was handed to the deleter.
 */
export async function finishMessage(
  context: FinishContext,
  message: Message,
  outcome: Outcome,
): Promise<boolean> {
  const { logger, metrics, counts } = context;
  const done = () => {
    context.deleter.delete(message, outcome.event?.id);
    return true;
  };
  const fields = {
    target: context.target,
    messageId: message.MessageId,
    eventId: outcome.event?.id,
    workgroup: outcome.event?.workgroup,
    eventType: outcome.event?.type,
    receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 0),
  };
  switch (outcome.kind) {
    case "ran": {
      const { status, stdout, stderr } = outcome.result;
      const record = {
        ...fields,
        status,
        stdout: decoder.decode(stdout),
        stderr: decoder.decode(stderr),
      };
      if (status === 0) {
        logger.info(
          "Target {target}: ran {eventType} for {workgroup} ({eventId}): exit {status} (receive {receiveCount})",
          record,
        );
        counts.done++;
        metrics.runs.inc({ result: "ok" });
        context.attempts.forget(message.MessageId ?? "");
        return done();
      }
      counts.failed++;
      metrics.runs.inc({ result: "exit_nonzero" });
      return await failed(context, message, {
        fields: record,
        reason: `exited ${status}: ${clip(record.stderr.trim())}`,
      });
    }
    case "refused":
      counts.failed++;
      metrics.runs.inc({ result: "refused" });
      return await failed(context, message, {
        fields,
        reason: `refused: ${outcome.reason}`,
      });
    case "poison":
      logger.error(
        "Target {target}: message {messageId} is poison, dead-lettered: {reason}",
        { ...fields, reason: outcome.reason },
      );
      if (!await deadLetter(context, message, outcome.reason)) return false;
      counts.poison++;
      metrics.runs.inc({ result: "poison" });
      metrics.deadLettered.inc({ reason: "poison" });
      return done();
    case "skip":
      logger.debug(
        "Target {target}: {eventType} for {workgroup} is not for this target",
        fields,
      );
      counts.skipped++;
      metrics.runs.inc({ result: "skipped" });
      return done();
    case "release":
      await context.release(message, outcome.delaySeconds);
      return false;
  }
}

/**
 * A failed run (exit non-zero, or refused by remctld): released for a retry
 * after a backoff, or — its `command_attempts`-th failure — dead-lettered
 * with the reason and deleted; true when the message is done with.
 */
async function failed(
  context: FinishContext,
  message: Message,
  failure: {
    fields: Record<string, unknown> & { eventId?: string };
    reason: string;
  },
): Promise<boolean> {
  const verdict = context.attempts.failed(message.MessageId ?? "");
  const fields = {
    ...failure.fields,
    reason: failure.reason,
    attempt: verdict.attempt,
    attempts: context.attempts.attempts,
  };
  if (!verdict.deadLetter) {
    context.logger.warn(
      "Target {target}: {eventType} for {workgroup} ({eventId}) failed (attempt {attempt} of {attempts}), retried in {retryDelaySeconds} s: {reason}",
      { ...fields, retryDelaySeconds: verdict.retryDelaySeconds },
    );
    await context.release(message, verdict.retryDelaySeconds);
    return false;
  }
  const reason =
    `command failed ${verdict.attempt} times, last: ${failure.reason}`;
  context.logger.error(
    "Target {target}: {eventType} for {workgroup} ({eventId}) failed {attempt} times, dead-lettered: {reason}",
    fields,
  );
  if (!await deadLetter(context, message, reason)) return false;
  context.attempts.forget(message.MessageId ?? "");
  context.metrics.deadLettered.inc({ reason: "failed" });
  context.deleter.delete(message, failure.fields.eventId);
  return true;
}

/** Sends `message` to the dead-letter queue with `reason`; false (logged) when SQS refused. */
async function deadLetter(
  context: FinishContext,
  message: Message,
  reason: string,
): Promise<boolean> {
  try {
    await sendToDeadLetter(context.sqs, {
      deadLetterUrl: context.deadLetterUrl,
      message,
      reason,
    });
    return true;
  } catch (error) {
    context.logger.error(
      "Target {target}: cannot dead-letter message {messageId}: {error}",
      { target: context.target, messageId: message.MessageId, error },
    );
    return false;
  }
}

/** `text` cut to 500 characters. */
function clip(text: string): string {
  return text.length > 500 ? `${text.slice(0, 497)}...` : text;
}
