/**
 * `deno task bench:pipeline [--latency N] [--interval MS] [--throughput N]
 * [--writers W] [--groups G] [--stems S]`:
 * real LDAP changes through wgsync-ldap and wgsync-event (both as
 * subprocesses with their own permissions) to SNS accepted and to the
 * message receivable in SQS, on a local stack started in a temporary
 * directory, beside the ceiling of a bare SDK `PublishBatch` loop against
 * the same moto in the same run. The G workgroups (default 100) are spread
 * over S stems (default 1): the stem is the FIFO message group, so one stem's
 * events go to SNS one call after the other (in order) while stems go in
 * parallel.
 *
 * - latency: N member additions (default 1,000), one every MS ms (default
 *   20) through one ldapmodify process; per change: the time from writing it
 *   to ldapmodify to SNS accepted (the SQS message's `SentTimestamp`: moto
 *   delivers to the queue inside the Publish call) and to the message
 *   received from SQS; p50/p99/max, beside the same figures of bare SDK
 *   `Publish` calls one at a time to the same topic and queue (the anchor).
 * - throughput: N member additions (default 10,000) by W ldapmodify
 *   processes (default 4) as fast as slapd takes them; sustained events/s
 *   from the first change to the last `wgsync_event_published_total`
 *   increment (polled every 200 ms: each /metrics scrape costs wgsync-event
 *   about 7 ms of CPU in prom-client's event-loop-lag collector, which at
 *   50 ms took 14 % of the role's core), beside ldapmodify's own rate and the
 *   bare PublishBatch loop (10 entries, 16 calls in flight, the same message
 *   size and attributes, the same topic and subscriptions) run before and
 *   after. The benchmark's queue is unsubscribed for this phase, and
 *   wgsync-web's (not run here) for the whole run: moto's FIFO queue works
 *   through every message it holds for each new one, so a queue filling up
 *   would measure moto's scan, not the pipeline.
 *
 * Goals (issue 9): sustained rate within 1.5× of the bare loop and ≥ 2,000
 * member changes/s; p99 LDAP change → SNS accepted under 50 ms on loopback.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parse, stringify } from "smol-toml";
import {
  PublishBatchCommand,
  PublishCommand,
  SNSClient,
  UnsubscribeCommand,
} from "@aws-sdk/client-sns";
import {
  DeleteMessageBatchCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { roleCommand } from "./launch.ts";
import { adminArgs, ldapUtil } from "./stack/ldap_admin.ts";
import { down, up } from "./stack/mod.ts";
import type { StackInfo } from "./stack/types.ts";
import {
  createSubscribedQueue,
  stackAwsConfig,
  unsubscribeQueue,
} from "./stack/aws.ts";

const { values } = parseArgs({
  options: {
    latency: { type: "string", default: "1000" },
    interval: { type: "string", default: "20" },
    throughput: { type: "string", default: "10000" },
    writers: { type: "string", default: "4" },
    groups: { type: "string", default: "100" },
    stems: { type: "string", default: "1" },
  },
});
const LATENCY = Number(values.latency);
const INTERVAL = Number(values.interval);
const THROUGHPUT = Number(values.throughput);
const WRITERS = Number(values.writers);
const GROUPS = Number(values.groups);
const STEMS = Number(values.stems);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rate = (n: number, ms: number) => Math.round(n / (ms / 1000));
function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

const dir = await Deno.makeTempDir({ prefix: "wgsync-bench-pipeline-" });
const children: Deno.ChildProcess[] = [];
let cleaning: Promise<void> | undefined;
/** Stops the roles and the stack and removes the directory; once. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const child of children) {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      await child.status;
    }
    await down(`${dir}/stack`).catch(() => 0);
    await Deno.remove(dir, { recursive: true });
  })();
  return cleaning;
}
for (const name of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(name, () => {
    console.error(`bench: stopping on ${name}`);
    cleanup().finally(() => Deno.exit(130));
  });
}
try {
  await run(await up(`${dir}/stack`, { log: () => {} }));
} finally {
  await cleanup();
}
Deno.exit(0);

async function run(stack: StackInfo): Promise<void> {
  const ou = `bench${crypto.randomUUID().slice(0, 6)}`;
  const base = `ou=${ou},${stack.ldap.suffix}`;
  const stems = Array.from(
    { length: STEMS },
    (_, k) => STEMS === 1 ? ou : `${ou}-s${k}`,
  );
  const groups = Array.from(
    { length: GROUPS },
    (_, i) => `cn=${workgroupName(stems, i)},${base}`,
  );
  await ldapUtil(
    stack,
    "ldapadd",
    `dn: ${base}\nobjectClass: organizationalUnit\nou: ${ou}\n\n` +
      groups.map((dn, i) =>
        `dn: ${dn}\nobjectClass: groupOfNames\ncn: ${
          workgroupName(stems, i)
        }\nmember: uid=seed,${stack.ldap.peopleBase}\n\n`
      ).join(""),
  );
  const aws = stackAwsConfig(stack);
  const sqs = new SQSClient(aws);
  const sns = new SNSClient(aws);
  // wgsync-web does not run here: its queue (every event, never read) would
  // fill, and moto's SQS works through every message a FIFO queue holds for
  // each one delivered to it (its queue attributes are recomputed from all
  // of them), so every publish would get slower as the run goes on.
  await unsubscribeQueue(sqs, sns, {
    topicArn: stack.aws.topicArn,
    queueUrl: stack.aws.webQueueUrl,
  });
  const { url: queue, subscriptionArn } = await createSubscribedQueue(
    sqs,
    sns,
    {
      name: `${ou}.fifo`,
      topicArn: stack.aws.topicArn,
      filterPolicy: { stem: stems },
    },
  );
  // The stack's configuration, with wgsync-ldap on this benchmark's OU.
  const config = parse(await Deno.readTextFile(stack.config)) as {
    ldap: { workgroups: { base: string } };
    event: { metrics_listen: string };
  };
  config.ldap.workgroups.base = base;
  const configFile = `${dir}/wgsync.toml`;
  await Deno.writeTextFile(configFile, stringify(config));
  const metricsUrl = `http://${config.event.metrics_listen}/metrics`;
  const published = async () => {
    const text = await (await fetch(metricsUrl)).text();
    const line = text.split("\n").find((l) =>
      l.startsWith("wgsync_event_published_total")
    );
    return Number(line?.split(" ")[1] ?? 0);
  };
  for (const role of ["event", "ldap"] as const) {
    children.push(
      roleCommand(role, {
        args: ["--config", configFile],
        extraRead: [dir, stack.dir],
        extraWrite: [dir, stack.dir],
        env: { KRB5_CONFIG: stack.krb5Config },
        stdout: "null",
        stderr: "null",
      }).spawn(),
    );
    if (role === "event") {
      await until(() => published().then(() => true, () => false), 30_000);
    }
  }
  // The first refresh's workgroup.created events.
  await until(async () => (await published()) >= GROUPS, 600_000);
  await sqs.send(new PurgeQueueCommand({ QueueUrl: queue }));
  await sleep(500);

  console.log(
    `bench:pipeline — slapd → wgsync-ldap → channel → wgsync-event → moto SNS FIFO → SQS FIFO; ${GROUPS} workgroups in ${STEMS} stem(s) (FIFO groups); load average ${
      Deno.loadavg().map((l) => l.toFixed(2)).join(" ")
    } (figures of one run)`,
  );
  const ownLatency = async () => {
    const text = await (await fetch(metricsUrl)).text();
    const value = (name: string) =>
      Number(
        text.split("\n").find((l) => l.startsWith(`${name} `))?.split(" ")[1] ??
          0,
      );
    return {
      sum: value("wgsync_event_publish_latency_seconds_sum"),
      count: value("wgsync_event_publish_latency_seconds_count"),
      entries: value("wgsync_event_batch_size_sum"),
      calls: value("wgsync_event_batch_size_count"),
    };
  };
  const own0 = await ownLatency();
  await latencyPhase(stack, sqs, queue, groups);
  const own1 = await ownLatency();
  console.log(
    `  of which inside wgsync-event (channel receipt → SNS accepted): mean ${
      Math.round(((own1.sum - own0.sum) / (own1.count - own0.count)) * 1000)
    } ms`,
  );
  await publishLatency(sns, sqs, stack.aws.topicArn, queue, stems);
  await sns.send(new UnsubscribeCommand({ SubscriptionArn: subscriptionArn }));
  const before = await bareLoop(sns, stack.aws.topicArn, stems, THROUGHPUT);
  console.log(
    `\nanchor before: bare SDK PublishBatch loop ${before} messages/s (${THROUGHPUT} messages)`,
  );
  const counters = async () =>
    (await (await fetch(metricsUrl)).text()).split("\n").filter((l) =>
      /^wgsync_event_(received|published|failed)/.test(l)
    ).join("; ");
  const own2 = await ownLatency();
  const pipeline = await throughputPhase(stack, groups, published, counters);
  const own3 = await ownLatency();
  const after = await bareLoop(sns, stack.aws.topicArn, stems, THROUGHPUT);
  const anchor = (before + after) / 2;
  console.log(
    `\nthroughput: ${THROUGHPUT} member additions by ${WRITERS} ldapmodify processes`,
  );
  console.log(
    `  ldapmodify alone (slapd accepting)      ${pipeline.ldapmodify} changes/s`,
  );
  console.log(
    `  LDAP change → SNS accepted (sustained)  ${pipeline.sustained} events/s (goal >= 2,000/s)`,
  );
  console.log(
    `  bare SDK PublishBatch loop (anchor)     ${
      Math.round(anchor)
    } messages/s (before ${before}, after ${after})`,
  );
  console.log(
    `  ratio anchor / pipeline                 ${
      (anchor / pipeline.sustained).toFixed(2)
    }× (goal <= 1.5×)`,
  );
  console.log(
    `  wgsync-event's own: ${own3.calls - own2.calls} SNS calls, ${
      ((own3.entries - own2.entries) / (own3.calls - own2.calls)).toFixed(1)
    } entries a call, channel receipt → SNS accepted mean ${
      Math.round(((own3.sum - own2.sum) / (own3.count - own2.count)) * 1000)
    } ms`,
  );
  sqs.destroy();
  sns.destroy();
}

/** The name of workgroup `i`: in stem `i mod S`. */
function workgroupName(stems: string[], i: number): string {
  return `${stems[i % stems.length]}:g${i}`;
}

async function until(
  condition: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > deadline) throw new Error("bench: timed out");
    await sleep(50);
  }
}

async function latencyPhase(
  stack: StackInfo,
  sqs: SQSClient,
  queue: string,
  groups: string[],
): Promise<void> {
  const writtenAt = new Map<string, number>();
  const accepted: number[] = [];
  const received: number[] = [];
  const receiving = (async () => {
    while (received.length < LATENCY) {
      const result = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queue,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          AttributeNames: ["All"],
        }),
      );
      const now = Date.now();
      for (const message of result.Messages ?? []) {
        const member = /"dn":"(uid=lat-\d+)/.exec(message.Body ?? "")?.[1];
        const at = member === undefined ? undefined : writtenAt.get(member);
        if (at === undefined) continue;
        accepted.push(Number(message.Attributes?.SentTimestamp) - at);
        received.push(now - at);
      }
      // A FIFO group stays blocked while its message is in flight.
      if ((result.Messages ?? []).length > 0) {
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queue,
            Entries: result.Messages!.map((m, i) => ({
              Id: String(i),
              ReceiptHandle: m.ReceiptHandle!,
            })),
          }),
        );
      }
    }
  })();
  const child = new Deno.Command("ldapmodify", {
    args: [...adminArgs(stack), "-c"],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  for (let i = 0; i < LATENCY; i++) {
    const member = `uid=lat-${i}`;
    writtenAt.set(member, Date.now());
    await writer.write(
      new TextEncoder().encode(
        `dn: ${
          groups[i % groups.length]
        }\nchangetype: modify\nadd: member\nmember: ${member},${stack.ldap.peopleBase}\n\n`,
      ),
    );
    await sleep(INTERVAL);
  }
  await writer.close();
  await child.output();
  await Promise.race([receiving, sleep(180_000)]);
  const a = accepted.toSorted((x, y) => x - y);
  const r = received.toSorted((x, y) => x - y);
  console.log(
    `\nlatency: ${LATENCY} member additions, one every ${INTERVAL} ms (${a.length} measured)`,
  );
  console.log(
    `  LDAP change → SNS accepted   p50 ${percentile(a, 0.5)} ms  p99 ${
      percentile(a, 0.99)
    } ms  max ${a.at(-1)} ms (goal p99 < 50 ms)`,
  );
  console.log(
    `  LDAP change → SQS received   p50 ${percentile(r, 0.5)} ms  p99 ${
      percentile(r, 0.99)
    } ms  max ${r.at(-1)} ms`,
  );
}

/** The latency anchor: bare SDK Publish calls one at a time, to the same topic and queue. */
async function publishLatency(
  sns: SNSClient,
  sqs: SQSClient,
  topicArn: string,
  queue: string,
  stems: string[],
): Promise<void> {
  const count = Math.min(LATENCY, 200);
  const sentAt = new Map<string, number>();
  const accepted: number[] = [];
  const received: number[] = [];
  const run = crypto.randomUUID().slice(0, 8);
  const receiving = (async () => {
    while (received.length < count) {
      const result = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queue,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          AttributeNames: ["All"],
        }),
      );
      const now = Date.now();
      for (const message of result.Messages ?? []) {
        const at = sentAt.get(message.Body ?? "");
        if (at === undefined) continue;
        accepted.push(Number(message.Attributes?.SentTimestamp) - at);
        received.push(now - at);
      }
      if ((result.Messages ?? []).length > 0) {
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queue,
            Entries: result.Messages!.map((m, i) => ({
              Id: String(i),
              ReceiptHandle: m.ReceiptHandle!,
            })),
          }),
        );
      }
    }
  })();
  for (let i = 0; i < count; i++) {
    const body = JSON.stringify({ anchor: run, i });
    sentAt.set(body, Date.now());
    const workgroup = workgroupName(stems, i % GROUPS);
    const stem = stems[(i % GROUPS) % stems.length];
    await sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Message: body,
        MessageGroupId: workgroup,
        MessageDeduplicationId: `${run}-${i}`,
        MessageAttributes: {
          type: { DataType: "String", StringValue: "member.added" },
          stem: { DataType: "String", StringValue: stem },
          workgroup: { DataType: "String", StringValue: workgroup },
        },
      }),
    );
    await sleep(INTERVAL);
  }
  await Promise.race([receiving, sleep(120_000)]);
  const a = accepted.toSorted((x, y) => x - y);
  const r = received.toSorted((x, y) => x - y);
  console.log(
    `  anchor: bare SDK Publish   p50 ${percentile(a, 0.5)} ms  p99 ${
      percentile(a, 0.99)
    } ms  max ${a.at(-1)} ms to accepted; p50 ${percentile(r, 0.5)} ms  p99 ${
      percentile(r, 0.99)
    } ms to SQS received (${count} calls, one every ${INTERVAL} ms)`,
  );
}

async function throughputPhase(
  stack: StackInfo,
  groups: string[],
  published: () => Promise<number>,
  counters: () => Promise<string>,
): Promise<{ ldapmodify: number; sustained: number }> {
  const start = await published();
  const files: string[] = [];
  for (let w = 0; w < WRITERS; w++) {
    const lines: string[] = [];
    for (let c = w; c < THROUGHPUT; c += WRITERS) {
      lines.push(
        `dn: ${groups[c % groups.length]}`,
        "changetype: modify",
        "add: member",
        `member: uid=tp-${c},${stack.ldap.peopleBase}`,
        "",
      );
    }
    files.push(`${dir}/writer-${w}.ldif`);
    await Deno.writeTextFile(files[w], lines.join("\n"));
  }
  const t0 = performance.now();
  let last = start;
  let lastAt = t0;
  const watching = (async () => {
    while (last < start + THROUGHPUT) {
      const now = await published();
      if (now > last) {
        last = now;
        lastAt = performance.now();
      }
      await sleep(200);
      if (performance.now() - lastAt > 60_000) {
        throw new Error(
          `bench: only ${
            last - start
          } of ${THROUGHPUT} events were published, none in the last 60 s; wgsync-event's counters: ${await counters()}`,
        );
      }
    }
  })();
  watching.catch(() => {});
  const modifyMs = Math.max(
    ...await Promise.all(files.map(async (file) => {
      const output = await new Deno.Command("ldapmodify", {
        args: [...adminArgs(stack), "-f", file],
        stdout: "null",
        stderr: "piped",
      }).output();
      if (!output.success) {
        throw new Error(new TextDecoder().decode(output.stderr));
      }
      return performance.now() - t0;
    })),
  );
  await watching;
  return {
    ldapmodify: rate(THROUGHPUT, modifyMs),
    sustained: rate(THROUGHPUT, lastAt - t0),
  };
}

/** The anchor: PublishBatch of 10 with 16 calls in flight, bodies and attributes like the events'. */
async function bareLoop(
  sns: SNSClient,
  topicArn: string,
  stems: string[],
  count: number,
): Promise<number> {
  const run = crypto.randomUUID().slice(0, 8);
  const body = (i: number) =>
    JSON.stringify({
      v: 1,
      id: `${run}-${i}`.padEnd(64, "0"),
      type: "member.added",
      workgroup: workgroupName(stems, i % GROUPS),
      stem: stems[(i % GROUPS) % stems.length],
      member: {
        dn: `uid=tp-${i},ou=people,dc=example,dc=edu`,
        id: `tp-${i}`,
        uid: null,
      },
      csn: "20261201000000.000000Z#000000#000#000000",
      seq: i,
      observedAt: new Date().toISOString(),
    });
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < count) {
      const first = next;
      next = Math.min(count, next + 10);
      const entries = [];
      for (let i = first; i < next; i++) {
        const workgroup = workgroupName(stems, i % GROUPS);
        const stem = stems[(i % GROUPS) % stems.length];
        entries.push({
          Id: `e${i - first}`,
          Message: body(i),
          MessageGroupId: workgroup,
          MessageDeduplicationId: `${run}-${i}`,
          MessageAttributes: {
            type: { DataType: "String", StringValue: "member.added" },
            stem: { DataType: "String", StringValue: stem },
            workgroup: { DataType: "String", StringValue: workgroup },
          },
        });
      }
      await sns.send(
        new PublishBatchCommand({
          TopicArn: topicArn,
          PublishBatchRequestEntries: entries,
        }),
      );
    }
  }));
  return rate(count, performance.now() - t0);
}
