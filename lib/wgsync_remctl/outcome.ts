/**
 * The end of one message's handling: what its outcome means for the queue
 * (delete, release for SQS to retry, dead-letter at once) and what the
 * journal and the metrics record of it.
 *
 * @module
 */

import type { Message, SQSClient } from "@aws-sdk/client-sqs";
import type { WorkgroupEvent } from "../events/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { RemctlResult } from "./connection.ts";
import { sendToDeadLetter } from "./dead_letter.ts";
import type { TargetMetrics } from "./metrics.ts";
import type { MessageActions } from "./visibility.ts";

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
  actions: MessageActions;
  logger: Logger;
  metrics: TargetMetrics;
  /** Counted per outcome, for STATUS=. */
  counts: { done: number; failed: number; poison: number; skipped: number };
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/**
 * Deletes, releases or dead-letters the message after its outcome, logs the
 * run (stdout, stderr, exit status, event id) and counts it; true when the
 * message left the queue.
 */
export async function finishMessage(
  context: FinishContext,
  message: Message,
  outcome: Outcome,
): Promise<boolean> {
  const { logger, metrics, actions, counts } = context;
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
          "Target {target}: ran {eventType} for {workgroup} ({eventId}): exit {status}",
          record,
        );
        counts.done++;
        metrics.runs.inc({ result: "ok" });
        return await actions.delete(message);
      } else {
        logger.warn(
          "Target {target}: {eventType} for {workgroup} ({eventId}) exited {status}; SQS retries it: {stderr}",
          record,
        );
        counts.failed++;
        metrics.runs.inc({ result: "exit_nonzero" });
        await actions.release(message, retryDelay(message));
        return false;
      }
    }
    case "refused":
      logger.warn(
        "Target {target}: {eventType} for {workgroup} ({eventId}) refused: {reason}",
        {
          ...fields,
          reason: outcome.reason,
        },
      );
      counts.failed++;
      metrics.runs.inc({ result: "refused" });
      await actions.release(message, retryDelay(message));
      return false;
    case "poison":
      logger.error(
        "Target {target}: message {messageId} is poison, dead-lettered: {reason}",
        {
          ...fields,
          reason: outcome.reason,
        },
      );
      try {
        await sendToDeadLetter(context.sqs, {
          deadLetterUrl: context.deadLetterUrl,
          message,
          reason: outcome.reason,
        });
        counts.poison++;
        metrics.runs.inc({ result: "poison" });
        return await actions.delete(message);
      } catch (error) {
        logger.error(
          "Target {target}: cannot dead-letter message {messageId}: {error}",
          {
            ...fields,
            error,
          },
        );
        return false;
      }
    case "skip":
      logger.debug(
        "Target {target}: {eventType} for {workgroup} is not for this target",
        fields,
      );
      counts.skipped++;
      metrics.runs.inc({ result: "skipped" });
      return await actions.delete(message);
    case "release":
      await actions.release(message, outcome.delaySeconds);
      return false;
  }
}

/** 1, 2, 4 … seconds by receive count, at most 30. */
function retryDelay(message: Message): number {
  const count = Number(message.Attributes?.ApproximateReceiveCount ?? 1);
  return Math.min(30, 2 ** Math.max(0, count - 1));
}
