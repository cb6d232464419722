/**
 * One received message's turn: the claim-check pointer resolved and the
 * body parsed (poison: dead-letter it), the target's match, the command
 * rendered and run through the pool. A transport, GSS, access or timeout
 * failure is the target's, not the message's: it pauses the target (the
 * circuit) and the command is tried again after the backoff, the message
 * held all along. Once the stop began a command still running gets the stop
 * grace; a message whose command did not start is released.
 *
 * @module
 */

import type { Message } from "@aws-sdk/client-sqs";
import type { S3Client } from "@aws-sdk/client-s3";
import {
  ClaimCheckError,
  EXTENDED_PAYLOAD_SIZE_ATTRIBUTE,
  resolvePayload,
} from "../aws/mod.ts";
import {
  EventParseError,
  parseEvent,
  type WorkgroupEvent,
} from "../events/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { Circuit } from "./circuit.ts";
import { RemctlError } from "./errors.ts";
import type { TargetMetrics } from "./metrics.ts";
import type { Outcome } from "./outcome.ts";
import type { RemctlPool } from "./pool.ts";
import { CommandTemplateError, renderCommand } from "./template.ts";

/** MESSAGE_ERROR codes that are the message's fault, not the server's. */
const MESSAGE_FAULT_CODES = new Set([4, 7, 8]);
const MISSING_OBJECT = new Set(["NoSuchKey", "NotFound", "NoSuchBucket"]);

/** What {@linkcode runMessage} works with. */
export interface MessageRunContext {
  target: string;
  s3: S3Client;
  matches: (event: WorkgroupEvent) => boolean;
  command: readonly string[];
  pool: RemctlPool;
  circuit: Circuit;
  logger: Logger;
  metrics: TargetMetrics;
  /** Longest command, in milliseconds. */
  timeoutMs: number;
  /** After the stop began, how long a running command may still take before its message is released. */
  stopGraceMs: number;
}

/** Reads `message` and runs its command; what happened, for {@linkcode finishMessage}. */
export async function runMessage(
  context: MessageRunContext,
  message: Message,
  signal: AbortSignal,
): Promise<Outcome> {
  const { logger, circuit, metrics, target } = context;
  let event: WorkgroupEvent;
  try {
    const body = await resolvePayload(context.s3, message.Body ?? "", {
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
    logger.warn("Target {target}: cannot read message {messageId}: {error}", {
      target,
      messageId: message.MessageId,
      error,
    });
    return { kind: "release", delaySeconds: 5 };
  }
  if (!context.matches(event)) return { kind: "skip", event };
  let args: Uint8Array[];
  try {
    args = renderCommand(context.command, event);
  } catch (error) {
    if (!(error instanceof CommandTemplateError)) throw error;
    return { kind: "poison", reason: error.message, event };
  }
  for (;;) {
    if (signal.aborted) return { kind: "release", delaySeconds: 0, event };
    const started = performance.now();
    try {
      const result = await untilStopGrace(
        context.pool.run(args, { timeoutMs: context.timeoutMs }),
        signal,
        context.stopGraceMs,
      );
      if (result === undefined) {
        logger.warn(
          "Target {target}: released {eventId} as its command outlasted the stop grace",
          { target, eventId: event.id },
        );
        return { kind: "release", delaySeconds: 0, event };
      }
      metrics.latency.observe((performance.now() - started) / 1000);
      if (circuit.succeed()) {
        logger.info("Target {target}: resumed, the server answers again", {
          target,
        });
      }
      return { kind: "ran", event, result };
    } catch (error) {
      if (!(error instanceof RemctlError)) throw error;
      if (error.kind === "remote" && MESSAGE_FAULT_CODES.has(error.code ?? 0)) {
        return { kind: "refused", event, reason: error.message };
      }
      if (circuit.fail(error.message)) {
        logger.warn(
          "Target {target}: paused, the remctl server fails ({kind}): {error}",
          { target, kind: error.kind, error: error.message, eventId: event.id },
        );
      }
      metrics.runs.inc({ result: `target_${error.kind}` });
      await circuit.retryTime(signal);
    }
  }
}

/** `running`'s result, or undefined when the stop began and the grace passed first. */
async function untilStopGrace<T>(
  running: Promise<T>,
  signal: AbortSignal,
  graceMs: number,
): Promise<T | undefined> {
  running.catch(() => {}); // a command outliving the grace fails unobserved
  let onAbort = () => {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  const grace = new Promise<undefined>((resolve) => {
    onAbort = () => {
      timer = setTimeout(() => resolve(undefined), graceMs);
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
