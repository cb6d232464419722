/**
 * Helpers for the wgsync-event tests: a configuration pointing the role at
 * the local stack's moto (or at a relay in front of it), the role run as a
 * subprocess with exactly its permissions (plus the test's directories) and
 * a real NOTIFY_SOCKET, real channel clients sending schema-v1 events, and
 * SQS queues subscribed to a topic to see what SNS delivered.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { dirname } from "node:path";
import { stringify } from "smol-toml";
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { CreateTopicCommand, SNSClient } from "@aws-sdk/client-sns";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { ChannelClient } from "../../lib/channel/mod.ts";
import { createSubscribedQueue } from "../../tasks/stack/aws.ts";
import type { EventType, WorkgroupEvent } from "../../lib/events/mod.ts";
import { roleCommand } from "../../tasks/launch.ts";
import { writeKey } from "./channel.ts";
import { DatagramListener } from "./datagram_listener.ts";
import { until } from "./ldap_role.ts";
export { withTempDir } from "./ldap_role.ts";
import { signal, type StackInfo } from "./stack.ts";

export { until };

const decoder = new TextDecoder();

/** What {@linkcode writeEventConfig} wrote. */
export interface EventFiles {
  dir: string;
  config: string;
  keyFile: string;
  socket: string;
  metricsPort: number;
}

/** Options of {@linkcode writeEventConfig}. */
export interface EventConfigOptions {
  /** The AWS endpoint. @default {stack.aws.endpoint} */
  endpoint?: string;
  /** @default {stack.aws.stemsTable} */
  stemsTable?: string;
  /** @default {stack.aws.topicArn} */
  topicArn?: string;
  /** @default {300} */
  stemCacheSeconds?: number;
  /** @default {262144} */
  maxMessageBytes?: number;
  /** Use this key file instead of writing one (two processes, one key). */
  keyFile?: string;
  /** @default {10} */
  stopTimeoutSeconds?: number;
  /** The channel socket (e.g. one wgsync-ldap's test config names). @default {dir + "/event.sock"} */
  socket?: string;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Writes `dir/wgsync.toml`, a channel key and AWS credentials for the role against `stack`. */
export async function writeEventConfig(
  stack: StackInfo,
  dir: string,
  options: EventConfigOptions = {},
): Promise<EventFiles> {
  const keyFile = options.keyFile ??
    (await writeKey(dir, "channel.key")).path;
  const credentials = `${dir}/aws-credentials`;
  await Deno.writeTextFile(
    credentials,
    `${stack.aws.accessKeyId}:${stack.aws.secretAccessKey}\n`,
    { mode: 0o600 },
  );
  const socket = options.socket ?? `${dir}/event.sock`;
  const config = `${dir}/wgsync.toml`;
  const metricsPort = freePort();
  const toml = {
    stop_timeout_seconds: options.stopTimeoutSeconds ?? 10,
    log: { level: "info" },
    channel: {
      socket,
      auth_key_file: keyFile,
    },
    aws: {
      region: stack.aws.region,
      endpoint: options.endpoint ?? stack.aws.endpoint,
      credentials_file: credentials,
    },
    event: {
      stems_table: options.stemsTable ?? stack.aws.stemsTable,
      topic_arn: options.topicArn ?? stack.aws.topicArn,
      stem_cache_seconds: options.stemCacheSeconds ?? 300,
      claim_check_bucket: stack.aws.claimCheckBucket,
      max_message_bytes: options.maxMessageBytes ?? 262_144,
      metrics_listen: `127.0.0.1:${metricsPort}`,
    },
  };
  await Deno.writeTextFile(config, stringify(toml) + "\n");
  return { dir, config, keyFile, socket, metricsPort };
}

/** wgsync-event running as a subprocess with its exact permissions and a NOTIFY_SOCKET. */
export class EventProcess {
  #child: Deno.ChildProcess;
  #stderr = "";
  #done: Promise<Deno.CommandStatus>;
  #readers: Promise<void>[];
  #exited = false;
  /** What the role sent to its NOTIFY_SOCKET. */
  readonly notify: DatagramListener;
  readonly files: EventFiles;

  private constructor(
    child: Deno.ChildProcess,
    notify: DatagramListener,
    files: EventFiles,
  ) {
    this.#child = child;
    this.notify = notify;
    this.files = files;
    this.#readers = [
      this.#collect(child.stderr, (text) => this.#stderr += text),
      this.#collect(child.stdout, () => {}),
    ];
    this.#done = child.status.finally(() => this.#exited = true);
  }

  /** Starts the role on `files.config`. */
  static start(files: EventFiles, stack: StackInfo): EventProcess {
    const notifySocket = `${files.dir}/notify-${crypto.randomUUID()}.sock`;
    const notify = new DatagramListener(notifySocket);
    const child = roleCommand("event", {
      args: ["--config", files.config],
      extraRead: [files.dir, stack.dir, dirname(files.socket)],
      extraWrite: [files.dir, dirname(files.socket)],
      env: { NOTIFY_SOCKET: notifySocket, NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new EventProcess(child, notify, files);
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Everything the role logged so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Whether the process has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  /** Waits for READY=1; fails with the log if the role exits or takes longer than `timeoutMs`. */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    await until(
      () => this.#exited || this.notify.messages.some(isReady),
      "READY=1",
      timeoutMs,
    );
    if (!this.notify.messages.some(isReady)) {
      throw new Error(`wgsync-event exited before READY=1:\n${this.#stderr}`);
    }
  }

  /** The role's /metrics as text. */
  async metrics(): Promise<string> {
    const response = await fetch(
      `http://127.0.0.1:${this.files.metricsPort}/metrics`,
    );
    return await response.text();
  }

  /** One counter's value (summed over the label sets matching `labels`). */
  async counter(name: string, labels = ""): Promise<number> {
    const text = await this.metrics();
    let sum = 0;
    for (const line of text.split("\n")) {
      if (!line.startsWith(name)) continue;
      const match = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
      if (match?.[1] !== name || !(match[2] ?? "").includes(labels)) continue;
      sum += Number(match[3]);
    }
    return sum;
  }

  /** SIGTERM, then waits for the exit; returns the exit code. */
  async stop(): Promise<number> {
    if (!this.#exited) signal(this.#child.pid, "SIGTERM");
    return await this.wait();
  }

  /** Waits for the exit (and the notify socket's close); returns the exit code. */
  async wait(): Promise<number> {
    const status = await this.#done;
    await Promise.all(this.#readers);
    await this.notify.close();
    return status.code;
  }

  async #collect(
    stream: ReadableStream<Uint8Array>,
    add: (text: string) => void,
  ): Promise<void> {
    for await (const chunk of stream) add(decoder.decode(chunk));
  }
}

function isReady(message: string): boolean {
  return message.split("\n").includes("READY=1");
}

/** A schema-v1 event of `workgroup` (id: SHA-256 of its facts). */
export function makeEvent(
  workgroup: string,
  seq: number,
  options: { type?: EventType; members?: number; tag?: string } = {},
): WorkgroupEvent {
  const type = options.type ?? "member.added";
  const id = createHash("sha256")
    .update(`${options.tag ?? ""}\0${workgroup}\0${seq}\0${type}`)
    .digest("hex");
  const event: WorkgroupEvent = {
    v: 1,
    id,
    type,
    workgroup,
    stem: workgroup.slice(0, workgroup.indexOf(":")),
    csn: `20261201000000.${String(seq).padStart(6, "0")}Z#000000#000#000000`,
    seq,
    observedAt: new Date().toISOString(),
  };
  if (options.members !== undefined) {
    event.members = Array.from({ length: options.members }, (_, i) => ({
      dn: `uid=person${i},ou=people,dc=example,dc=edu`,
      id: `person${i}`,
      uid: `person${i}`,
    }));
  } else if (type.startsWith("member.")) {
    event.member = {
      dn: `uid=p${seq},ou=people,dc=example,dc=edu`,
      id: `p${seq}`,
      uid: `p${seq}`,
    };
  }
  return event;
}

/** Sends `events` over a real channel client and waits until each was acknowledged. */
export async function sendEvents(
  files: EventFiles,
  events: readonly WorkgroupEvent[],
  options: { connections?: number; timeoutMs?: number } = {},
): Promise<void> {
  const acked = new Set<string>();
  const client = await ChannelClient.open({
    address: { transport: "unix", path: files.socket },
    keyFile: files.keyFile,
    connections: options.connections ?? 4,
    reconnect: { minDelay: 50, maxDelay: 500 },
    onAck: (id) => acked.add(id),
  });
  try {
    for (const event of events) {
      await client.submit({
        id: event.id,
        workgroup: event.workgroup,
        body: JSON.stringify(event),
      });
    }
    await until(
      () => events.every((event) => acked.has(event.id)),
      () => `acknowledgements of ${events.length} events (got ${acked.size})`,
      options.timeoutMs ?? 60_000,
    );
  } finally {
    await client.close();
  }
}

/** The stack's AWS clients (the test's own, straight to moto). */
export function awsClients(stack: StackInfo) {
  const config = {
    endpoint: stack.aws.endpoint,
    region: stack.aws.region,
    credentials: {
      accessKeyId: stack.aws.accessKeyId,
      secretAccessKey: stack.aws.secretAccessKey,
    },
  };
  return {
    sqs: new SQSClient(config),
    sns: new SNSClient(config),
    dynamo: new DynamoDBClient(config),
    s3: new S3Client({ ...config, forcePathStyle: true }),
    destroy() {
      for (const client of [this.sqs, this.sns, this.dynamo, this.s3]) {
        client.destroy();
      }
    },
  };
}

/** Creates a FIFO topic named `name` (`.fifo` added). */
export async function createFifoTopic(
  sns: SNSClient,
  name: string,
): Promise<string> {
  const topic = await sns.send(
    new CreateTopicCommand({
      Name: `${name}.fifo`,
      Attributes: { FifoTopic: "true", ContentBasedDeduplication: "false" },
    }),
  );
  return topic.TopicArn!;
}

/** A FIFO queue subscribed (raw delivery) to `topicArn`, with an optional filter policy. */
export async function subscribedQueue(
  clients: ReturnType<typeof awsClients>,
  topicArn: string,
  name: string,
  filterPolicy?: Record<string, string[]>,
): Promise<string> {
  const { url } = await createSubscribedQueue(clients.sqs, clients.sns, {
    name: `${name}.fifo`,
    topicArn,
    filterPolicy,
  });
  return url;
}

/**
 * Receives and deletes whatever reaches `url` until the returned function is
 * called (its promise settles once the loop ended). For a queue subscribed to
 * the topic that no test reads — the stack's wgsync-web queue: moto's SQS
 * works through every message a FIFO queue holds for each one delivered to it,
 * so a queue left to fill makes every later publish slower (a 1,000-event
 * burst then measures moto's scan, not wgsync-event).
 */
export function keepDrained(sqs: SQSClient, url: string): () => Promise<void> {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const result = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
        }),
      );
      const received = result.Messages ?? [];
      if (received.length === 0) continue;
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: url,
          Entries: received.map((message, i) => ({
            Id: String(i),
            ReceiptHandle: message.ReceiptHandle!,
          })),
        }),
      );
    }
  })();
  return () => {
    stopped = true;
    return loop;
  };
}

/** A message as a subscriber's queue holds it. */
export interface QueuedMessage {
  body: string;
  groupId: string;
  dedupId: string;
  attributes: Record<string, { type: string; value: string }>;
}

/** Receives (and deletes) every message in `url` until it was empty for `quietMs`. */
export async function drainQueue(
  sqs: SQSClient,
  url: string,
  options: { quietMs?: number; expect?: number; timeoutMs?: number } = {},
): Promise<QueuedMessage[]> {
  const messages: QueuedMessage[] = [];
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let quietSince = Date.now();
  while (Date.now() < deadline) {
    const enough = options.expect !== undefined &&
      messages.length >= options.expect;
    if (
      (enough || options.expect === undefined) &&
      Date.now() - quietSince >= (options.quietMs ?? 1000)
    ) break;
    const result = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageAttributeNames: ["All"],
        AttributeNames: ["All"],
        MessageSystemAttributeNames: [
          "MessageGroupId",
          "MessageDeduplicationId",
        ],
      }),
    );
    const received = result.Messages ?? [];
    if (received.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    quietSince = Date.now();
    for (const message of received) {
      messages.push({
        body: message.Body ?? "",
        groupId: message.Attributes?.MessageGroupId ?? "",
        dedupId: message.Attributes?.MessageDeduplicationId ?? "",
        attributes: Object.fromEntries(
          Object.entries(message.MessageAttributes ?? {}).map((
            [name, value],
          ) => [name, {
            type: value.DataType ?? "",
            value: value.StringValue ?? "",
          }]),
        ),
      });
    }
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: received.map((message, i) => ({
          Id: String(i),
          ReceiptHandle: message.ReceiptHandle!,
        })),
      }),
    );
  }
  return messages;
}
