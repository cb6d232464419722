/**
 * `deno task bench`'s pipeline section: the whole pipeline on the sample
 * data (wgsync-event, wgsync-ldap, wgsync-remctl as processes with their own
 * permissions, the stack's own configuration: StartTLS + SASL GSSAPI, the
 * demo targets), with an observer queue subscribed to the topic.
 *
 * - latency: member additions one at a time `spacingMs` apart through one
 *   ldapmodify process; per change, from the directory's commit (the
 *   change's entryCSN, microseconds) to SNS accepted (the observer message's
 *   SentTimestamp: moto enqueues inside the Publish call) and to the demo
 *   backend running for it (its record's time, which includes the backend's
 *   own start-up: a Deno process);
 * - persist throughput: member additions by `writers` ldapmodify processes
 *   as fast as slapd takes them; changes/s from the first commit to the
 *   outbox empty (every event acknowledged by wgsync-event), to the last SNS
 *   acceptance, to the last backend run; beside, in the same run, ldapmodify's
 *   own rate, a bare SDK PublishBatch loop to the same topic (10 a batch, 16
 *   in flight, the same message size, a stem no target takes) and
 *   sequential `remctl` CLI calls of the same demo command;
 * - peak RSS (VmHWM) of each role at the end.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { PublishBatchCommand, SNSClient } from "@aws-sdk/client-sns";
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { sleep } from "../../lib/async.ts";
import { hwmKiB } from "../bench_role.ts";
import { SupervisedRole } from "../chaos/supervisor.ts";
import {
  createSubscribedQueue,
  stackAwsConfig,
  unsubscribeQueue,
} from "../stack/aws.ts";
import { adminArgs } from "../stack/ldap_admin.ts";
import { down, up } from "../stack/mod.ts";
import type { StackInfo } from "../stack/types.ts";

/** p50, p99 and max of a list of milliseconds. */
export interface Percentiles {
  p50: number;
  p99: number;
  max: number;
}

/** The section's figures. */
export interface PipelineFigures {
  latency: {
    changes: number;
    spacingMs: number;
    toSns: Percentiles;
    toRemctl: Percentiles;
  };
  throughput: {
    changes: number;
    writers: number;
    /** changes/s */
    ldapmodify: number;
    acknowledged: number;
    snsAccepted: number;
    remctlRan: number;
    /** Anchors: messages/s of the bare PublishBatch loop; calls/s of sequential remctl CLI calls. */
    barePublishBatch: number;
    remctlCli: number;
    cliCalls: number;
  };
  /** VmHWM per role at the end, KiB. */
  rssKiB: Record<string, number>;
}

const TARGET_GROUPS = [
  "research-computing:sherlock-users",
  "research-computing:oak-storage",
  "research-computing:farmshare",
  "research-computing:gpu-early-access",
  "research-computing:admins",
  "uit:helpdesk",
  "uit:network-ops",
  "uit:identity",
  "uit:security",
  "uit:all-staff",
  "uit:contractors",
];

/** A CSN's time (`YYYYmmddHHMMSS.ffffffZ#...`) in epoch ms. */
export function csnMs(csn: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})\.(\d{6})Z/.exec(csn);
  if (m === null) throw new RangeError(`not a CSN: "${csn}"`);
  const [, y, mo, d, h, mi, s, us] = m.map(Number);
  return Date.UTC(y, mo - 1, d, h, mi, s) + us / 1000;
}

function percentiles(values: number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? NaN };
}

/** A role of the stack `info` as the benches run it: its config, logging to `logs/bench-<role>.log`. */
export function benchRole(
  info: StackInfo,
  role: "event" | "ldap" | "remctl",
): SupervisedRole {
  return new SupervisedRole(role, role, {
    args: ["--config", info.config],
    extraRead: [info.dir],
    extraWrite: [info.dir],
    env: { KRB5_CONFIG: info.krb5Config },
    logFile: `${info.dir}/logs/bench-${role}.log`,
  });
}

function modify(info: StackInfo, name: string, member: string): string {
  return `dn: cn=${name},${info.ldap.workgroupBase}\nchangetype: modify\nadd: member\nmember: ${member}\n-\n\n`;
}

interface Observed {
  csn: string;
  sentMs: number;
}

/** Drains the observer queue into `seen` (member DN → csn and SentTimestamp). */
async function observe(
  sqs: SQSClient,
  url: string,
  seen: Map<string, Observed>,
  stop: AbortSignal,
): Promise<void> {
  while (!stop.aborted) {
    const reply = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ["SentTimestamp"],
      }),
    );
    const messages = reply.Messages ?? [];
    for (const message of messages) {
      try {
        const event = JSON.parse(message.Body ?? "");
        if (event.member?.dn) {
          seen.set(event.member.dn, {
            csn: event.csn,
            sentMs: Number(message.Attributes?.SentTimestamp),
          });
        }
      } catch {
        // A claim-check pointer or the bare loop's body: not a member event.
      }
    }
    if (messages.length > 0) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: url,
          Entries: messages.map((m, i) => ({
            Id: String(i),
            ReceiptHandle: m.ReceiptHandle!,
          })),
        }),
      );
    }
  }
}

/** Backend runs by member DN (argv[6] is `{member.dn}` in the stack's demo template) → epoch ms. */
async function backendRuns(info: StackInfo): Promise<Map<string, number>> {
  const runs = new Map<string, number>();
  const text = await Deno.readTextFile(info.remctl.callsFile).catch(() => "");
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const call = JSON.parse(line);
    if (call.argv?.[1] === "member.added") {
      runs.set(call.argv[6], Date.parse(call.time));
    }
  }
  return runs;
}

async function until(
  condition: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(50);
  }
}

/** Rows in wgsync-ldap's outbox (events not yet acknowledged by wgsync-event). */
export function outboxRows(path: string): number {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return Number(
      (db.prepare("SELECT count(*) AS n FROM outbox").get() as { n: number }).n,
    );
  } finally {
    db.close();
  }
}

async function ldapmodify(info: StackInfo, input: string): Promise<void> {
  const child = new Deno.Command("ldapmodify", {
    args: adminArgs(info),
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const pending = child.output();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const output = await pending;
  if (!output.success) {
    throw new Error(
      `ldapmodify failed: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
}

/** Measures the section on a new sample-data stack in `dir`. */
export async function measurePipeline(
  dir: string,
  options: {
    latencyChanges: number;
    spacingMs: number;
    throughputChanges: number;
    writers: number;
    cliCalls: number;
    log: (line: string) => void;
  },
): Promise<PipelineFigures> {
  const { log } = options;
  const info = await up(dir, { log: () => {} });
  const aws = stackAwsConfig(info);
  const sqs = new SQSClient(aws);
  const sns = new SNSClient(aws);
  const stop = new AbortController();
  const roles = (["event", "ldap", "remctl"] as const).map((role) =>
    benchRole(info, role)
  );
  const observing: Promise<void>[] = [];
  try {
    // wgsync-web does not run here: its queue would only fill, and moto
    // compares each message with every one still in a FIFO queue.
    await unsubscribeQueue(sqs, sns, {
      topicArn: info.aws.topicArn,
      queueUrl: info.aws.webQueueUrl,
    });
    const { url: observer } = await createSubscribedQueue(sqs, sns, {
      name: "bench-observer.fifo",
      topicArn: info.aws.topicArn,
    });
    const seen = new Map<string, Observed>();
    observing.push(observe(sqs, observer, seen, stop.signal));
    for (const role of roles) {
      role.start();
      if (role.name === "event") await sleep(1000);
    }
    const store = `${info.dir}/data/ldap/store.sqlite`;
    // The first refresh's events reached the backend (created: no member).
    await until(
      async () => {
        try {
          return outboxRows(store) === 0 &&
            (await Deno.readTextFile(info.remctl.callsFile)).split("\n")
                .length > TARGET_GROUPS.length;
        } catch {
          return false;
        }
      },
      "the first refresh to reach the backend",
      180_000,
    );

    // Latency: one change at a time.
    const people = info.ldap.peopleBase;
    const latencyDns: string[] = [];
    {
      const child = new Deno.Command("ldapmodify", {
        args: adminArgs(info),
        stdin: "piped",
        stdout: "null",
        stderr: "null",
      }).spawn();
      const writer = child.stdin.getWriter();
      for (let i = 0; i < options.latencyChanges; i++) {
        const dn = `uid=bench-lat-${i},${people}`;
        latencyDns.push(dn);
        await writer.write(
          new TextEncoder().encode(
            modify(info, TARGET_GROUPS[i % TARGET_GROUPS.length], dn),
          ),
        );
        await sleep(options.spacingMs);
      }
      await writer.close();
      await child.status;
    }
    log(`bench: ${options.latencyChanges} latency changes written`);
    await until(
      async () => {
        const runs = await backendRuns(info);
        return latencyDns.every((dn) => runs.has(dn) && seen.has(dn));
      },
      "the latency changes to reach SNS and the backend",
      600_000,
    );
    const runs = await backendRuns(info);
    const toSns: number[] = [];
    const toRemctl: number[] = [];
    for (const dn of latencyDns) {
      const observed = seen.get(dn)!;
      const written = csnMs(observed.csn);
      toSns.push(observed.sentMs - written);
      toRemctl.push(runs.get(dn)! - written);
    }

    // Persist throughput.
    const throughputDns = Array.from(
      { length: options.throughputChanges },
      (_, i) => `uid=bench-tp-${i},${people}`,
    );
    const parts = Array.from(
      { length: options.writers },
      (_, w) =>
        throughputDns.filter((_, i) => i % options.writers === w).map((dn, i) =>
          modify(
            info,
            TARGET_GROUPS[(i * options.writers + w) % TARGET_GROUPS.length],
            dn,
          )
        ).join(""),
    );
    await Promise.all(parts.map((input) => ldapmodify(info, input)));
    log(`bench: ${options.throughputChanges} throughput changes written`);
    await until(
      () => {
        try {
          return outboxRows(store) === 0;
        } catch {
          return false;
        }
      },
      "the outbox to drain",
      600_000,
    );
    const ackedAt = Date.now();
    await until(
      async () => {
        const runs = await backendRuns(info);
        return throughputDns.every((dn) => runs.has(dn) && seen.has(dn));
      },
      "the throughput changes to reach SNS and the backend",
      900_000,
    );
    const tpRuns = await backendRuns(info);
    const observed = throughputDns.map((dn) => seen.get(dn)!);
    const first = Math.min(...observed.map((o) => csnMs(o.csn)));
    const lastWrite = Math.max(...observed.map((o) => csnMs(o.csn)));
    const lastSns = Math.max(...observed.map((o) => o.sentMs));
    const lastRun = Math.max(...throughputDns.map((dn) => tpRuns.get(dn)!));
    const n = options.throughputChanges;
    const rate = (end: number) => n / ((end - first) / 1000);
    const rssKiB = Object.fromEntries(
      roles.map((role) => [`wgsync-${role.name}`, hwmKiB(role.pid!)]),
    );

    // Anchors in the same run.
    const bare = await barePublishBatch(sns, info.aws.topicArn, n);
    const cli = await remctlCli(info, options.cliCalls);
    return {
      latency: {
        changes: options.latencyChanges,
        spacingMs: options.spacingMs,
        toSns: percentiles(toSns),
        toRemctl: percentiles(toRemctl),
      },
      throughput: {
        changes: n,
        writers: options.writers,
        ldapmodify: rate(lastWrite),
        acknowledged: rate(ackedAt),
        snsAccepted: rate(lastSns),
        remctlRan: rate(lastRun),
        barePublishBatch: bare,
        remctlCli: cli,
        cliCalls: options.cliCalls,
      },
      rssKiB,
    };
  } finally {
    stop.abort();
    await Promise.allSettled(observing);
    await Promise.all(roles.map((role) => role.stop()));
    sqs.destroy();
    sns.destroy();
    await down(dir);
  }
}

/** Messages/s of PublishBatch (10 a batch, 16 in flight) with a member event's size and attributes. */
async function barePublishBatch(
  sns: SNSClient,
  topicArn: string,
  count: number,
): Promise<number> {
  const body = JSON.stringify({
    v: 1,
    id: "0".repeat(64),
    type: "member.added",
    workgroup: "bench-bare:g",
    stem: "bench-bare",
    member: {
      dn: "uid=bench-bare-000000,ou=people,dc=example,dc=edu",
      id: "bench-bare-000000",
      uid: null,
    },
    csn: "20260101000000.000000Z#000000#000#000000",
    seq: 1,
    observedAt: new Date().toISOString(),
  });
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < count) {
      const from = next;
      next = Math.min(count, next + 10);
      await sns.send(
        new PublishBatchCommand({
          TopicArn: topicArn,
          PublishBatchRequestEntries: Array.from(
            { length: next - from },
            (_, i) => ({
              Id: String(i),
              Message: body,
              MessageGroupId: `bench-bare:g${(from + i) % 11}`,
              MessageDeduplicationId: crypto.randomUUID(),
              MessageAttributes: {
                type: { DataType: "String", StringValue: "member.added" },
                stem: { DataType: "String", StringValue: "bench-bare" },
                workgroup: { DataType: "String", StringValue: "bench-bare:g" },
              },
            }),
          ),
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return count / ((performance.now() - started) / 1000);
}

/** Calls/s of sequential `remctl` CLI calls of the demo command with a member event's arguments. */
async function remctlCli(info: StackInfo, calls: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < calls; i++) {
    const child = new Deno.Command("remctl", {
      args: [
        "-p",
        String(info.remctl.port),
        "-s",
        info.remctl.service,
        info.remctl.host,
        info.remctl.command,
        info.remctl.subcommand,
        "member.added",
        "uit:bench-cli",
        "uit",
        "",
        `bench-cli-${i}`,
        `uid=bench-cli-${i},${info.ldap.peopleBase}`,
        "",
        "0".repeat(64),
        "",
      ],
      env: {
        KRB5_CONFIG: info.krb5Config,
        KRB5CCNAME: `FILE:${info.ccaches.remctlClient}`,
      },
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const output = await child.output();
    if (!output.success) {
      throw new Error(
        `remctl failed (exit ${output.code}): ${
          new TextDecoder().decode(output.stderr)
        }`,
      );
    }
  }
  return calls / ((performance.now() - started) / 1000);
}
