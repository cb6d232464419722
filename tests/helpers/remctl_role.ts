/**
 * Helpers for the wgsync-remctl tests: a FIFO queue + dead-letter queue per
 * test subscribed to the stack's SNS topic (filter policy on a stem of the
 * test's own), events published to the topic the way wgsync-event publishes
 * them (deduplication id = event id, attributes type/stem/workgroup) except
 * that MessageGroupId is the workgroup (or what `publishEvents`' `group`
 * option says), not the stem, so a test's workgroups (all of one stem) are
 * separate groups the lanes run concurrently — the consumer treats any group
 * id alike —, the role's configuration, and the
 * demo backend's calls file read back.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { stringify } from "smol-toml";
import {
  PublishCommand,
  type SNSClient,
  SubscribeCommand,
} from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import {
  createS3Client,
  createSnsClient,
  createSqsClient,
} from "../../lib/aws/mod.ts";
import { STACK_MAX_RECEIVE_COUNT } from "../../tasks/stack/aws.ts";
import { DEMO_ARGUMENTS } from "../../tasks/stack/config.ts";
import type {
  EventType,
  Member,
  WorkgroupEvent,
} from "../../lib/events/mod.ts";
import type { StackInfo } from "./stack.ts";

/** The stack's AWS clients. */
export function awsClients(stack: StackInfo) {
  const settings = {
    region: stack.aws.region,
    endpoint: stack.aws.endpoint,
    credentials: {
      accessKeyId: stack.aws.accessKeyId,
      secretAccessKey: stack.aws.secretAccessKey,
    },
  };
  return {
    sns: createSnsClient(settings),
    sqs: createSqsClient(settings),
    s3: createS3Client(settings),
  };
}

/** A test's own target queue. */
export interface TestQueue {
  stem: string;
  url: string;
  dlqUrl: string;
}

/** Creates a FIFO queue (redrive to a FIFO DLQ after the stack's maxReceiveCount) subscribed to the topic for `stem`. */
export async function createQueue(
  stack: StackInfo,
  clients: { sqs: SQSClient; sns: SNSClient },
  options: {
    visibilitySeconds?: number;
    stem?: string;
    maxReceiveCount?: number;
  } = {},
): Promise<TestQueue> {
  const stem = options.stem ?? `t${crypto.randomUUID().slice(0, 8)}`;
  const dlq = await clients.sqs.send(
    new CreateQueueCommand({
      QueueName: `${stem}-dlq.fifo`,
      Attributes: { FifoQueue: "true" },
    }),
  );
  const dlqArn = await arnOf(clients.sqs, dlq.QueueUrl!);
  const queue = await clients.sqs.send(
    new CreateQueueCommand({
      QueueName: `${stem}.fifo`,
      Attributes: {
        FifoQueue: "true",
        VisibilityTimeout: String(options.visibilitySeconds ?? 10),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlqArn,
          maxReceiveCount: options.maxReceiveCount ?? STACK_MAX_RECEIVE_COUNT,
        }),
      },
    }),
  );
  await clients.sns.send(
    new SubscribeCommand({
      TopicArn: stack.aws.topicArn,
      Protocol: "sqs",
      Endpoint: await arnOf(clients.sqs, queue.QueueUrl!),
      Attributes: {
        RawMessageDelivery: "true",
        FilterPolicy: JSON.stringify({ stem: [stem] }),
        FilterPolicyScope: "MessageAttributes",
      },
    }),
  );
  return { stem, url: queue.QueueUrl!, dlqUrl: dlq.QueueUrl! };
}

async function arnOf(sqs: SQSClient, url: string): Promise<string> {
  const reply = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ["QueueArn"],
    }),
  );
  return reply.Attributes!.QueueArn!;
}

/** A schema v1 event with a fresh id; `fields` override the defaults. */
export function testEvent(
  workgroup: string,
  type: EventType,
  fields: Partial<WorkgroupEvent> = {},
): WorkgroupEvent {
  const member: Member = {
    dn: "uid=ann,ou=people,dc=example,dc=edu",
    id: "ann",
    uid: "ann",
  };
  return {
    v: 1,
    id: createHash("sha256").update(crypto.randomUUID()).digest("hex"),
    type,
    workgroup,
    stem: workgroup.slice(0, workgroup.indexOf(":")),
    ...(type.startsWith("member.") ? { member } : {}),
    ...(type === "workgroup.created" || type === "workgroup.snapshot"
      ? { members: [member] }
      : {}),
    ...(type === "workgroup.renamed" ? { previous: `${workgroup}-old` } : {}),
    csn: "20261201000000.000000Z#000000#000#000000",
    seq: 1,
    observedAt: new Date().toISOString(),
    ...fields,
  };
}

/** Publishes one body to the topic as wgsync-event does. */
export async function publish(
  stack: StackInfo,
  sns: SNSClient,
  message: {
    body: string;
    workgroup: string;
    stem: string;
    type: string;
    id: string;
    /** The FIFO message group; default the workgroup. */
    group?: string;
  },
): Promise<void> {
  await sns.send(
    new PublishCommand({
      TopicArn: stack.aws.topicArn,
      Message: message.body,
      MessageGroupId: message.group ?? message.workgroup,
      MessageDeduplicationId: message.id,
      MessageAttributes: {
        type: { DataType: "String", StringValue: message.type },
        stem: { DataType: "String", StringValue: message.stem },
        workgroup: { DataType: "String", StringValue: message.workgroup },
      },
    }),
  );
}

/** Publishes events in order; `options.group` names an event's FIFO message group (default its workgroup). */
export async function publishEvents(
  stack: StackInfo,
  sns: SNSClient,
  events: readonly WorkgroupEvent[],
  options: { group?: (event: WorkgroupEvent) => string } = {},
): Promise<void> {
  for (const event of events) {
    await publish(stack, sns, {
      ...event,
      body: JSON.stringify(event),
      group: options.group?.(event),
    });
  }
}

/** One call the demo backend recorded. */
export interface DemoCall {
  argv: string[];
  stdin: string;
  exitCode: number;
}

/** The demo backend's calls for workgroups of `stem` (argv[2] is the workgroup), in call order. */
export async function callsOf(
  stack: StackInfo,
  stem: string,
): Promise<DemoCall[]> {
  let text = "";
  try {
    text = await Deno.readTextFile(stack.remctl.callsFile);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  // Only complete lines: a backend may be writing the last one right now.
  const complete = text.slice(0, text.lastIndexOf("\n") + 1);
  return complete.split("\n").filter((line) => line !== "").map((line) =>
    JSON.parse(line)
  ).filter((call: DemoCall) => call.argv[2]?.startsWith(`${stem}:`));
}

/** Receives everything visible on `url` (each message then stays invisible 30 s). */
export async function drain(sqs: SQSClient, url: string): Promise<Message[]> {
  const all: Message[] = [];
  for (;;) {
    const reply = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: 30,
        MessageAttributeNames: ["All"],
        MessageSystemAttributeNames: ["All"],
      }),
    );
    if (!reply.Messages?.length) return all;
    all.push(...reply.Messages);
  }
}

/** Options of {@linkcode writeRemctlConfig}. */
export interface RemctlConfigOptions {
  concurrency?: number;
  timeoutSeconds?: number;
  idleSeconds?: number;
  maxPauseSeconds?: number;
  commandAttempts?: number;
  metricsListen?: string;
  /** The command after `wgsync demo`; default: the stack's demo arguments. */
  args?: string[];
  /** The whole command instead (another remctld command than the demo). */
  command?: string[];
}

/** Writes `dir/wgsync.toml` with one target per queue against the stack's remctld. */
export async function writeRemctlConfig(
  stack: StackInfo,
  dir: string,
  queues: readonly TestQueue[],
  options: RemctlConfigOptions = {},
): Promise<{ dir: string; config: string }> {
  const credentials = `${dir}/aws-credentials`;
  await Deno.writeTextFile(
    credentials,
    `${stack.aws.accessKeyId}:${stack.aws.secretAccessKey}\n`,
    {
      mode: 0o600,
    },
  );
  const remctl: Record<string, unknown> = {
    ccache: stack.ccaches.remctlClient,
    concurrency: options.concurrency ?? 8,
    timeout_seconds: options.timeoutSeconds ?? 10,
    idle_seconds: options.idleSeconds ?? 30,
    max_pause_seconds: options.maxPauseSeconds ?? 2,
    command_attempts: options.commandAttempts ?? 3,
    targets: queues.map((queue) => ({
      name: queue.stem,
      queue_url: queue.url,
      host: stack.remctl.host,
      port: stack.remctl.port,
      principal: stack.remctl.service,
      match: { stems: [queue.stem] },
      command: options.command ?? [
        stack.remctl.command,
        stack.remctl.subcommand,
        ...(options.args ?? DEMO_ARGUMENTS),
      ],
    })),
  };
  if (options.metricsListen !== undefined) {
    remctl.metrics_listen = options.metricsListen;
  }
  const config = `${dir}/wgsync.toml`;
  await Deno.writeTextFile(
    config,
    stringify({
      stop_timeout_seconds: 10,
      log: { level: "info" },
      aws: {
        region: stack.aws.region,
        endpoint: stack.aws.endpoint,
        credentials_file: credentials,
      },
      remctl,
    }) + "\n",
  );
  return { dir, config };
}

/** Polls the async `condition` every 100 ms; fails after `timeoutMs` naming `what`. */
export async function eventually(
  condition: () => Promise<boolean>,
  what: string | (() => string),
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${
          typeof what === "string" ? what : what()
        }`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until `count` calls for `stem` were recorded; returns them. */
export async function waitForCalls(
  stack: StackInfo,
  stem: string,
  count: number,
  timeoutMs = 30_000,
): Promise<DemoCall[]> {
  let calls: DemoCall[] = [];
  await eventually(
    async () => (calls = await callsOf(stack, stem)).length >= count,
    () => `${count} calls for ${stem}, have ${calls.length}`,
    timeoutMs,
  );
  return calls;
}

/** Receives from `url` until `count` messages arrived in all; returns them. */
export async function waitForMessages(
  sqs: SQSClient,
  url: string,
  count: number,
  timeoutMs = 30_000,
): Promise<Message[]> {
  const all: Message[] = [];
  await eventually(
    async () => {
      all.push(...await drain(sqs, url));
      return all.length >= count;
    },
    () => `${count} messages on ${url}, have ${all.length}`,
    timeoutMs,
  );
  return all;
}

/** [visible, in flight] messages on the queue `url` (SQS's approximate counts). */
export async function queueCounts(
  sqs: SQSClient,
  url: string,
): Promise<[number, number]> {
  const { Attributes: a = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
      ],
    }),
  );
  return [
    Number(a.ApproximateNumberOfMessages),
    Number(a.ApproximateNumberOfMessagesNotVisible),
  ];
}
