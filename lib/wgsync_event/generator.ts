/**
 * wgsync-event's wiring: AWS clients from `[aws]`, the start check (stems
 * table, FIFO topic, claim-check bucket), the stems cache, the publisher,
 * the channel server on `[channel]`'s socket, metrics and systemd.
 *
 * `READY=1` only after the start check passed and the channel listens. On
 * stop: the channel server stops accepting and closes its connections (the
 * client keeps every unacknowledged event and re-sends it to the next
 * instance), publishes already under way get until the drain deadline to
 * finish, then the rest is given back; the function resolves well within
 * `stop_timeout_seconds`.
 *
 * @module
 */

import type { Registry } from "prom-client";
import type { z } from "zod";
import {
  type AwsSection,
  ClaimCheckWriter,
  createDynamoDbClient,
  createS3Client,
  createSnsClient,
  loadAwsSettings,
} from "../aws/mod.ts";
import { ChannelServer } from "../channel/server.ts";
import { channelAddress, type ChannelSettings } from "../channel/settings.ts";
import type { eventSchema } from "../config/schema.ts";
import { getLogger } from "../log/mod.ts";
import { createRegistry, serveMetrics } from "../metrics/mod.ts";
import type { Notifier } from "../systemd/mod.ts";
import { EventMetrics } from "./metrics.ts";
import { messageGroupId } from "./message.ts";
import { EventPipeline } from "./pipeline.ts";
import { Publisher } from "./publisher.ts";
import { startCheck } from "./start_check.ts";
import { statusLine } from "./status.ts";
import { StemDirectory } from "./stems.ts";

/** The validated `[event]` section. */
export type EventSection = z.infer<typeof eventSchema>;

/** Options of {@linkcode runEventGenerator}. */
export interface EventGeneratorOptions {
  event: EventSection;
  aws: AwsSection;
  channel: ChannelSettings;
  /** `stop_timeout_seconds`: the stop finishes in about half of it. */
  stopTimeoutSeconds: number;
  notifier: Notifier;
  /** Aborted to stop. */
  signal: AbortSignal;
  /** The metrics registry. @default {createRegistry({ role: "event" })} */
  registry?: Registry;
}

const log = getLogger("event");
/** How often STATUS= is refreshed (and events/s measured). */
const STATUS_EVERY_MS = 5_000;
/**
 * Events of one message group under way at once (the channel server's
 * `perKeyInFlight`): enough for several full PublishBatch calls of one busy
 * group; the pipeline and the publisher keep their order.
 */
const PER_GROUP_IN_FLIGHT = 64;
/** The longest a stop waits for publishes under way. */
const MAX_DRAIN_MS = 5_000;

/** Runs wgsync-event until `signal` aborts; rejects when the start check fails. */
export async function runEventGenerator(
  options: EventGeneratorOptions,
): Promise<void> {
  const { event, notifier, signal } = options;
  const settings = await loadAwsSettings(options.aws);
  const dynamo = createDynamoDbClient(settings);
  const sns = createSnsClient(settings);
  const s3 = createS3Client(settings);
  const clients = [dynamo, sns, s3];
  try {
    await notifier.status("start check: stems table, topic, bucket");
    await startCheck({
      dynamo,
      sns,
      s3,
      table: event.stems_table,
      topicArn: event.topic_arn,
      bucket: event.claim_check_bucket,
    });
    if (signal.aborted) return;
    const registry = options.registry ??
      await createRegistry({ role: "event" });
    let connections = () => 0;
    const metrics = new EventMetrics(registry, () => connections());
    let pipeline: EventPipeline | undefined = undefined;
    const publisher = new Publisher({
      sns,
      maxBatchBytes: event.max_message_bytes,
      onFailure: (reason, error, delay) =>
        pipeline?.reportFailure(reason, error, delay),
      onSent: (entries) => metrics.batchSize.observe(entries),
    });
    const stems = new StemDirectory({
      dynamo,
      table: event.stems_table,
      ttlMs: event.stem_cache_seconds * 1000,
      onLookup: (result) => metrics.lookup(result),
      onCreated: (stem, workgroup) => {
        metrics.stemsCreated.inc();
        log.info("Created the item of the new stem {stem} (from {workgroup})", {
          stem,
          workgroup,
        });
      },
      onLostRace: (stem, item) => {
        log.info(
          "Another process created the item of the new stem {stem} first (from {from}); using it",
          { stem, from: item.discoveredFrom?.S ?? "?" },
        );
      },
    });
    pipeline = new EventPipeline({
      stems,
      publisher,
      claimCheck: new ClaimCheckWriter(s3, {
        bucket: event.claim_check_bucket,
      }),
      metrics,
      defaultTopicArn: event.topic_arn,
      maxMessageBytes: event.max_message_bytes,
      onProblem: () => report(),
    });
    const channel = options.channel;
    const server = await ChannelServer.listen({
      address: channelAddress(channel),
      keyFile: channel.auth_key_file,
      maxFrameBytes: channel.max_frame_bytes,
      maxEventBytes: channel.max_event_bytes,
      orderKey: messageGroupId,
      perKeyInFlight: PER_GROUP_IN_FLIGHT,
      handler: pipeline.handle,
    });
    connections = () => server.stats.open;
    const metricsServer = serveMetrics(registry, {
      listen: event.metrics_listen,
      signal,
      health: () => ({
        ok: pipeline.problem === undefined,
        detail: {
          connections: server.stats.open,
          ...pipeline.counts,
          problem: pipeline.problem ?? null,
        },
      }),
    });
    let state = "running";
    let lastHandled = 0;
    let lastAt = performance.now();
    let rate = 0;
    const report = () => {
      const counts = pipeline.counts;
      void notifier.status(statusLine({
        state,
        connections: server.stats.open,
        rate,
        published: counts.published,
        disabled: counts.disabled,
        lastError: pipeline.problem,
      }));
    };
    const timer = setInterval(() => {
      const now = performance.now();
      const handled = pipeline.counts.handled;
      rate = (handled - lastHandled) / ((now - lastAt) / 1000);
      lastHandled = handled;
      lastAt = now;
      report();
    }, STATUS_EVERY_MS);
    notifier.startWatchdog({ healthy: () => !signal.aborted });
    log.info("Publishing to {topic}; stems from {table}", {
      topic: event.topic_arn,
      table: event.stems_table,
    });
    await notifier.ready(statusLine({
      state,
      connections: 0,
      rate: 0,
      published: 0,
      disabled: 0,
    }));
    try {
      await new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        signal.addEventListener("abort", () => resolve(), { once: true });
      });
    } finally {
      state = "stopping";
      report();
      const drainMs = Math.min(
        MAX_DRAIN_MS,
        (options.stopTimeoutSeconds * 1000) / 2,
      );
      const giveBack = setTimeout(
        () => publisher.stop(new Error("stopping: given back to the channel")),
        drainMs,
      );
      await server.close();
      clearTimeout(giveBack);
      publisher.stop(new Error("stopping"));
      clearInterval(timer);
      await metricsServer?.finished;
      log.info("Stopped; {published} events published since start", {
        published: pipeline.counts.published,
      });
    }
  } finally {
    for (const client of clients) client.destroy();
  }
}
