/**
 * wgsync-remctl's wiring: AWS clients from `[aws]`, one connection pool and
 * one consumer per target, the ticket cache check, READY=1 once every
 * target's queue answered and the cache holds a valid TGT, STATUS= per
 * target, the watchdog, `/metrics` and `/healthz`, and the stop.
 *
 * @module
 */

import type { z } from "zod";
import type { remctlSchema } from "../config/schema.ts";
import type { AwsSection } from "../aws/mod.ts";
import {
  createS3Client,
  createSqsClient,
  loadAwsSettings,
} from "../aws/mod.ts";
import { sleep } from "../async.ts";
import { backoffDelay, resolveBackoff } from "../backoff.ts";
import { GssInitiator } from "../gssapi/mod.ts";
import type { Logger } from "../log/mod.ts";
import { createRegistry, serveMetrics } from "../metrics/mod.ts";
import type { Notifier } from "../systemd/mod.ts";
import { remctlMetrics } from "./metrics.ts";
import { RemctlPool } from "./pool.ts";
import {
  RECEIVE_WAIT_SECONDS,
  TargetConsumer,
  type TargetStatus,
} from "./target.ts";

/** The validated `[remctl]` section. */
export type RemctlSection = z.infer<typeof remctlSchema>;

/** Options of {@linkcode runRemctl}. */
export interface RunRemctlOptions {
  remctl: RemctlSection;
  aws: AwsSection;
  notifier: Notifier;
  logger: Logger;
  signal: AbortSignal;
  /** The role's stop timeout, in seconds: running commands get most of it. */
  stopTimeoutSeconds: number;
}

/** One STATUS= line for all targets. */
export function statusLine(targets: readonly TargetStatus[]): string {
  return targets.map((t) => {
    const state = !t.ready
      ? "waiting for its queue"
      : t.paused
      ? `PAUSED (${t.pauseReason.slice(0, 120)})`
      : "running";
    return `${t.name}: ${state}, done ${t.done}, failed ${t.failed}, poison ${t.poison}, in flight ${t.inFlight}, oldest ${t.oldestAgeSeconds}s`;
  }).join("; ");
}

/**
 * Checks that `ccache` holds a valid TGT (no network: acquiring the
 * credential reads the cache); returns the error text when it does not.
 */
export function ticketCacheProblem(ccache: string): string | undefined {
  try {
    // The target name is only imported, never contacted.
    new GssInitiator("krbtgt/CHECK", { ccache, targetNameType: "principal" })
      .close();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Runs the role until `signal` aborts and every target has finished or released its messages. */
export async function runRemctl(options: RunRemctlOptions): Promise<void> {
  const { remctl, logger, notifier, signal } = options;
  // A receive long-polls for RECEIVE_WAIT_SECONDS: the request timeout
  // (10 s by default) must be longer, or every receive on an empty queue
  // fails and the target backs off while messages arrive.
  const settings = await loadAwsSettings(options.aws, {
    requestTimeoutMs: (RECEIVE_WAIT_SECONDS + 10) * 1000,
  });
  const sqs = createSqsClient(settings);
  const s3 = createS3Client(settings);
  const registry = await createRegistry({ role: "remctl" });
  const consumers: TargetConsumer[] = [];
  const metricsFor = remctlMetrics(
    registry,
    () => consumers.map((c) => c.status()),
  );
  const pools: RemctlPool[] = [];
  for (const target of remctl.targets) {
    const pool = new RemctlPool({
      host: target.host,
      port: target.port,
      principal: target.principal ?? `host/${target.host}`,
      ccache: remctl.ccache,
      timeoutMs: remctl.timeout_seconds * 1000,
      idleMs: remctl.idle_seconds * 1000,
    });
    pools.push(pool);
    consumers.push(
      new TargetConsumer({
        name: target.name,
        queueUrl: target.queue_url,
        command: target.command,
        match: target.match,
        sqs,
        s3,
        pool,
        logger,
        metrics: metricsFor(target.name),
        concurrency: remctl.concurrency,
        timeoutMs: remctl.timeout_seconds * 1000,
        maxPauseMs: remctl.max_pause_seconds * 1000,
        commandAttempts: remctl.command_attempts,
        stopGraceMs: Math.max(0, options.stopTimeoutSeconds * 1000 - 3000),
      }),
    );
  }
  const status = () => consumers.map((c) => c.status());
  serveMetrics(registry, {
    listen: remctl.metrics_listen,
    signal,
    health: () => {
      const targets = status();
      return {
        ok: targets.every((t) => t.ready && !t.paused),
        detail: {
          targets,
          ticketCache: ticketCacheProblem(remctl.ccache) ?? "valid",
        },
      };
    },
  });
  const reporter = setInterval(
    () => void notifier.status(statusLine(status())),
    5_000,
  );
  try {
    await notifier.status(statusLine(status()));
    const started = await Promise.all(consumers.map((c) => c.start(signal)));
    if (!started.every(Boolean)) return;
    if (!await waitForTicketCache(remctl.ccache, { logger, signal })) return;
    const running = consumers.map((c) => c.run(signal));
    notifier.startWatchdog();
    await notifier.ready(statusLine(status()));
    logger.info(
      "Ready: {targets} targets, up to {concurrency} message groups at once each",
      {
        targets: consumers.length,
        concurrency: remctl.concurrency,
      },
    );
    await Promise.all(running);
  } finally {
    clearInterval(reporter);
    for (const pool of pools) pool.close();
    sqs.destroy();
    s3.destroy();
  }
}

async function waitForTicketCache(
  ccache: string,
  options: { logger: Logger; signal: AbortSignal },
): Promise<boolean> {
  const backoff = resolveBackoff({ minDelay: 500, maxDelay: 10_000 });
  for (let attempt = 1; !options.signal.aborted; attempt++) {
    const problem = ticketCacheProblem(ccache);
    if (problem === undefined) return true;
    options.logger.warn(
      "Waiting for a valid ticket cache (attempt {attempt}): {problem}",
      {
        attempt,
        problem,
      },
    );
    await sleep(backoffDelay(backoff, attempt), { signal: options.signal });
  }
  return false;
}
