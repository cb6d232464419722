/**
 * What happens to one event between the channel and SNS: checked against
 * schema v1 (an invalid one is logged, counted and acknowledged — retrying
 * cannot mend it), its stem looked up (a stem whose item is unusable, or a
 * stems table that cannot be reached, makes the event wait and retry), a
 * disabled stem's event counted and acknowledged, anything else published to
 * the stem's topic or the default one — through S3 as a claim-check pointer
 * when the message would exceed `maxMessageBytes`. The returned promise
 * resolves only once SNS accepted the message (and S3 stored the body), so
 * the channel acknowledges nothing earlier.
 *
 * Several events of one message group may be under way at once (the
 * channel server's `perKeyInFlight`, keyed by `messageGroupId`): their
 * checks, stem lookups and S3 writes overlap, but each is handed to the
 * publisher only after the group's previous event was (or was decided not
 * to be published), so the publisher's queue holds them in arrival order; if
 * an earlier one fails before its hand-over (the role stops), the later ones
 * fail too instead of overtaking it.
 *
 * @module
 */

import type { ClaimCheckWriter } from "../aws/mod.ts";
import type { EventContext, IncomingEvent } from "../channel/server.ts";
import { getLogger } from "../log/mod.ts";
import {
  type CheckedEvent,
  checkEvent,
  InvalidEventError,
  messageGroupId,
  snsMessage,
} from "./message.ts";
import type { EventMetrics } from "./metrics.ts";
import type { Publisher } from "./publisher.ts";
import {
  describeAwsError,
  type FailureReason,
  ReasonedError,
} from "./retry.ts";
import type { StemDirectory, StemInfo } from "./stems.ts";

/** Options of {@linkcode EventPipeline}. */
export interface EventPipelineOptions {
  stems: StemDirectory;
  publisher: Publisher;
  claimCheck: ClaimCheckWriter;
  metrics: EventMetrics;
  /** The topic of stems without a `topicArn`. */
  defaultTopicArn: string;
  /** Messages larger than this (body + attributes) go through S3. */
  maxMessageBytes: number;
  /** Called with a problem's description while it lasts, undefined once over. */
  onProblem?: (problem: string | undefined) => void;
}

/** Counters for the status line. */
export interface PipelineCounts {
  handled: number;
  published: number;
  disabled: number;
  invalid: number;
}

/** Raised (and retried) while a stem's item cannot be used. */
class UnusableStemError extends ReasonedError {
  constructor(message: string) {
    super("invalid_stem", message);
    this.name = "UnusableStemError";
  }
}

const log = getLogger("event");
/** At most one log line per problem in this many ms. */
const LOG_EVERY_MS = 10_000;

/** The per-event work of wgsync-event; {@linkcode handle} is the channel handler. */
export class EventPipeline {
  #options: EventPipelineOptions;
  #counts: PipelineCounts = {
    handled: 0,
    published: 0,
    disabled: 0,
    invalid: 0,
  };
  /** Per group: settles once its latest event was handed to the publisher (or needs not be). */
  #handOvers = new Map<string, Promise<void>>();
  #problem: string | undefined;
  #problemSince = 0;
  #loggedAt = 0;

  /** Constructs an EventPipeline. */
  constructor(options: EventPipelineOptions) {
    this.#options = options;
  }

  /** A copy of the counters. */
  get counts(): PipelineCounts {
    return { ...this.#counts };
  }

  /** The current problem, if any. */
  get problem(): string | undefined {
    return this.#problem;
  }

  /** The channel handler: resolves once the event is published, disabled or dropped as invalid. */
  handle = (
    incoming: IncomingEvent,
    context: EventContext,
  ): Promise<void> => {
    const group = messageGroupId(incoming);
    const previous = this.#handOvers.get(group) ?? Promise.resolve();
    const mine = Promise.withResolvers<void>();
    // Observed by the group's next event only.
    mine.promise.catch(() => {});
    this.#handOvers.set(group, mine.promise);
    const forget = () => {
      if (this.#handOvers.get(group) === mine.promise) {
        this.#handOvers.delete(group);
      }
    };
    mine.promise.then(forget, forget);
    const handled = this.#handle(incoming, context, async () => {
      await previous;
      return mine.resolve;
    });
    // Failing before the hand-over fails the group's later events too.
    handled.catch((error) => mine.reject(error));
    return handled;
  };

  /**
   * Handles one event; `myTurn` resolves once the group's earlier events
   * were handed to the publisher, with the function that lets the next go.
   */
  async #handle(
    incoming: IncomingEvent,
    context: EventContext,
    myTurn: () => Promise<() => void>,
  ): Promise<void> {
    const started = performance.now();
    const { metrics } = this.#options;
    let event: CheckedEvent;
    try {
      event = checkEvent(incoming);
    } catch (error) {
      if (!(error instanceof InvalidEventError)) throw error;
      (await myTurn())();
      metrics.received.inc({ type: "invalid" });
      metrics.failure("invalid_event");
      this.#counts.invalid++;
      this.#counts.handled++;
      log.error("{message}; acknowledged and dropped (from {peer})", {
        message: error.message,
        eventId: incoming.id,
        workgroup: incoming.workgroup,
        peer: context.peer,
      });
      return;
    }
    metrics.received.inc({ type: event.type });
    const stem = await this.#stem(event);
    if (!stem.enabled) {
      (await myTurn())();
      metrics.disabled.inc();
      this.#counts.disabled++;
      this.#counts.handled++;
      return;
    }
    const topicArn = stem.topicArn ?? this.#options.defaultTopicArn;
    let message = snsMessage(event, topicArn);
    const offload = message.size > this.#options.maxMessageBytes;
    if (offload) {
      const stored = await this.#options.publisher.retry(() =>
        this.#options.claimCheck.store(event.id, event.json)
      );
      message = snsMessage(event, topicArn, stored);
    }
    const next = await myTurn();
    const accepted = this.#options.publisher.publish(message, {
      alone: offload,
    });
    next();
    await accepted;
    this.#recovered();
    metrics.published.inc({ path: offload ? "claim_check" : "direct" });
    metrics.publishLatency.observe((performance.now() - started) / 1000);
    this.#counts.published++;
    this.#counts.handled++;
  }

  /** Reports a failed AWS attempt (from the publisher or a lookup). */
  reportFailure(
    reason: FailureReason,
    error: unknown,
    delay: number | undefined,
  ): void {
    this.#options.metrics.failure(reason);
    const what = error instanceof UnusableStemError
      ? error.message
      : `${reason.replace("_", " ")}: ${describeAwsError(error)}`;
    const now = Date.now();
    if (this.#problem === undefined) this.#problemSince = now;
    const changed = this.#problem !== what;
    this.#problem = what;
    this.#options.onProblem?.(what);
    if (changed || now - this.#loggedAt >= LOG_EVERY_MS) {
      this.#loggedAt = now;
      log.warn(
        "Holding events back (not acknowledged) as {problem}; retrying in {delay} ms",
        { problem: what, delay: delay ?? 0 },
      );
    }
  }

  #recovered(): void {
    if (this.#problem === undefined) return;
    log.info("AWS answers again after {seconds} s; acknowledging again", {
      seconds: Math.round((Date.now() - this.#problemSince) / 1000),
    });
    this.#problem = undefined;
    this.#options.onProblem?.(undefined);
  }

  async #stem(event: CheckedEvent): Promise<StemInfo & { kind: "stem" }> {
    const info = await this.#options.publisher.retry(async () => {
      const found = await this.#options.stems.lookup(
        event.stem,
        event.workgroup,
      );
      if (found.kind === "invalid") {
        throw new UnusableStemError(
          `the stems table's item for stem "${event.stem}" cannot be used: ${found.reason}`,
        );
      }
      return found;
    });
    return info;
  }
}
