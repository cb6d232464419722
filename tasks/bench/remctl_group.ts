/**
 * `deno task bench:remctl`'s per-group section: how fast wgsync-remctl's
 * consumer (`TargetConsumer`, in this process, the role's code) carries the
 * messages of ONE SQS FIFO message group — one stem, since wgsync-event's
 * MessageGroupId is the stem — through the stack's demo command (`wgsync
 * demo`, a Deno process per call recording it), beside, in the same run:
 *
 * - the anchor: the same command as sequential `remctl` CLI calls;
 * - the ceiling: the same command through wgsync-remctl's client alone,
 *   sequentially (what a group costs when SQS costs nothing).
 *
 * The queue is the stack's moto (tasks/stack/moto_fifo.py, blocking an
 * in-flight group as AWS does); its messages are sent before the consumer
 * starts, so the figure is the drain of a backlog, and the moto process's
 * CPU time per message is printed too (moto is the shared bottleneck of the
 * stack's pipeline).
 *
 * @module
 */

import { createHash } from "node:crypto";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { createS3Client, createSqsClient } from "../../lib/aws/mod.ts";
import type { WorkgroupEvent } from "../../lib/events/mod.ts";
import { getLogger } from "../../lib/log/mod.ts";
import { createRegistry } from "../../lib/metrics/mod.ts";
import {
  RemctlPool,
  renderCommand,
  TargetConsumer,
} from "../../lib/wgsync_remctl/mod.ts";
import { remctlMetrics } from "../../lib/wgsync_remctl/metrics.ts";
import { stackAwsConfig } from "../stack/aws.ts";
import { remctlCliCall } from "./remctl_cli.ts";
import { DEMO_ARGUMENTS } from "../stack/config.ts";
import type { StackInfo } from "../stack/types.ts";
import { median } from "../bench_refresh/common.ts";

/** Rate and latency of one way of running the commands. */
export interface Rate {
  /** Commands (messages) per second. */
  rate: number;
  /** Milliseconds per command, p50 (sequential ways only). */
  p50?: number;
}

/** One consumer run's figures. */
export interface ConsumerRun {
  groups: number;
  messages: number;
  /** Messages per second per group. */
  perGroup: number;
  /** Messages per second, all groups. */
  total: number;
  /** CPU time of the moto process per message, ms. */
  motoCpuMs: number;
}

/** The section's figures. */
export interface GroupRateFigures {
  anchor: Rate;
  ceiling: Rate;
  runs: ConsumerRun[];
}

/** The demo command line wgsync-remctl runs for the stack's targets. */
function demoCommand(stack: StackInfo): string[] {
  return [stack.remctl.command, stack.remctl.subcommand, ...DEMO_ARGUMENTS];
}

function benchEvent(workgroup: string, seq: number): WorkgroupEvent {
  return {
    v: 1,
    id: createHash("sha256").update(crypto.randomUUID()).digest("hex"),
    type: seq % 2 === 0 ? "member.added" : "member.removed",
    workgroup,
    stem: workgroup.slice(0, workgroup.indexOf(":")),
    member: { dn: `uid=m${seq},ou=people,dc=x`, id: `m${seq}`, uid: `m${seq}` },
    csn: "20261201000000.000000Z#000000#000#000000",
    seq,
    observedAt: new Date().toISOString(),
  };
}

/** CPU seconds (user + system) the process `pid` used so far. */
function cpuSeconds(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]
    .split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function sequentialCli(stack: StackInfo, n: number): Promise<Rate> {
  const decoder = new TextDecoder();
  const latencies: number[] = [];
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const argv = renderCommand(demoCommand(stack), benchEvent("bench:cli", i))
      .map((arg) => decoder.decode(arg));
    latencies.push(await remctlCliCall(stack, argv));
  }
  return {
    rate: (n / (performance.now() - started)) * 1000,
    p50: median(latencies),
  };
}

async function sequentialClient(
  stack: StackInfo,
  pool: RemctlPool,
  n: number,
): Promise<Rate> {
  const latencies: number[] = [];
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const args = renderCommand(demoCommand(stack), benchEvent("bench:cl", i));
    const t = performance.now();
    const result = await pool.run(args, { timeoutMs: 10_000 });
    if (result.status !== 0) throw new Error(`exited ${result.status}`);
    latencies.push(performance.now() - t);
  }
  return {
    rate: (n / (performance.now() - started)) * 1000,
    p50: median(latencies),
  };
}

async function createBenchQueue(sqs: SQSClient): Promise<string> {
  const name = `bench-group-${crypto.randomUUID().slice(0, 8)}`;
  const dlq = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${name}-dlq.fifo`,
      Attributes: { FifoQueue: "true" },
    }),
  );
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: dlq.QueueUrl!,
      AttributeNames: ["QueueArn"],
    }),
  );
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${name}.fifo`,
      Attributes: {
        FifoQueue: "true",
        VisibilityTimeout: "30",
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: Attributes!.QueueArn,
          maxReceiveCount: 50,
        }),
      },
    }),
  );
  return queue.QueueUrl!;
}

/** `messages` messages over `groups` FIFO groups, drained by one TargetConsumer. */
async function consumerRun(
  stack: StackInfo,
  clients: { sqs: SQSClient; pool: RemctlPool },
  options: { messages: number; groups: number; concurrency: number },
): Promise<ConsumerRun> {
  const { sqs, pool } = clients;
  const url = await createBenchQueue(sqs);
  const events: { event: WorkgroupEvent; group: string }[] = [];
  for (let i = 0; i < options.messages; i++) {
    const group = `bench-${i % options.groups}`;
    events.push({ event: benchEvent(`${group}:wg`, i), group });
  }
  for (let i = 0; i < events.length; i += 10) {
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: events.slice(i, i + 10).map(({ event, group }, j) => ({
          Id: String(j),
          MessageBody: JSON.stringify(event),
          MessageGroupId: group,
          MessageDeduplicationId: event.id,
        })),
      }),
    );
  }
  const s3 = createS3Client(awsSettings(stack));
  const consumers: TargetConsumer[] = [];
  const metrics = remctlMetrics(
    await createRegistry({ role: "remctl" }),
    () => consumers.map((c) => c.status()),
  );
  const consumer = new TargetConsumer({
    name: "bench",
    queueUrl: url,
    command: demoCommand(stack),
    match: {},
    sqs,
    s3,
    pool,
    logger: getLogger("bench-remctl"),
    metrics: metrics("bench"),
    concurrency: options.concurrency,
    timeoutMs: 10_000,
    maxPauseMs: 2_000,
    stopGraceMs: 2_000,
    commandAttempts: 3,
  });
  consumers.push(consumer);
  const stop = new AbortController();
  try {
    if (!await consumer.start(stop.signal)) throw new Error("no queue");
    const cpu = cpuSeconds(stack.aws.pid);
    const started = performance.now();
    const running = consumer.run(stop.signal);
    while (consumer.status().done < options.messages) {
      const { failed, poison } = consumer.status();
      if (failed + poison > 0) throw new Error("a bench message failed");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const seconds = (performance.now() - started) / 1000;
    const motoCpu = cpuSeconds(stack.aws.pid) - cpu;
    stop.abort();
    await running;
    return {
      groups: options.groups,
      messages: options.messages,
      perGroup: options.messages / options.groups / seconds,
      total: options.messages / seconds,
      motoCpuMs: (motoCpu / options.messages) * 1000,
    };
  } finally {
    stop.abort();
    s3.destroy();
  }
}

function awsSettings(stack: StackInfo) {
  return {
    ...stackAwsConfig(stack),
    requestTimeoutMs: 30_000,
  };
}

/**
 * Measures the anchor, the ceiling and the consumer with one group and with
 * `groups` groups, `messages` messages each time (the CLI anchor and the
 * ceiling run `min(messages, 100)` commands).
 */
export async function groupRate(
  stack: StackInfo,
  options: { messages: number; groups: number; concurrency?: number },
): Promise<GroupRateFigures> {
  const sqs = createSqsClient(awsSettings(stack));
  const pool = new RemctlPool({
    host: stack.remctl.host,
    port: stack.remctl.port,
    principal: stack.remctl.service,
    ccache: stack.ccaches.remctlClient,
  });
  try {
    const sequential = Math.min(options.messages, 100);
    const anchor = await sequentialCli(stack, sequential);
    const ceiling = await sequentialClient(stack, pool, sequential);
    const runs: ConsumerRun[] = [];
    for (const groups of new Set([1, options.groups])) {
      runs.push(
        await consumerRun(stack, { sqs, pool }, {
          messages: options.messages,
          groups,
          concurrency: options.concurrency ?? 8,
        }),
      );
    }
    return { anchor, ceiling, runs };
  } finally {
    pool.close();
    sqs.destroy();
  }
}

/** The section as printed by `deno task bench:remctl`. */
export function formatGroupRate(figures: GroupRateFigures): string {
  const { anchor, ceiling } = figures;
  const lines = [
    "\nper FIFO group (one stem) through wgsync-remctl's consumer, concurrency 8, the demo command (`wgsync demo`, a Deno process a call):",
    `  remctl CLI, sequential, same command (anchor)   ${
      anchor.rate.toFixed(1).padStart(6)
    } commands/s   p50 ${anchor.p50!.toFixed(1)} ms`,
    `  client alone, sequential (ceiling: no SQS)      ${
      ceiling.rate.toFixed(1).padStart(6)
    } commands/s   p50 ${ceiling.p50!.toFixed(1)} ms`,
  ];
  for (const run of figures.runs) {
    lines.push(
      `  consumer, ${run.groups} group(s), ${run.messages} messages        ${
        run.perGroup.toFixed(1).padStart(6)
      } messages/s per group (${run.total.toFixed(1)} in all; ${
        (run.perGroup / anchor.rate).toFixed(2)
      }× the anchor, ${
        (run.perGroup / ceiling.rate).toFixed(2)
      } of the ceiling); moto CPU ${run.motoCpuMs.toFixed(1)} ms a message`,
    );
  }
  return lines.join("\n");
}
