/**
 * The chaos run: the whole pipeline on a local stack — one or two
 * wgsync-ldap + wgsync-event pairs following the same directory and
 * publishing to the same topic, one wgsync-remctl — while the driver makes
 * random changes and faults are injected (SIGKILLs of random roles,
 * restarted as their units would be; moto frozen; slapd stopped; the ticket
 * cache expired). At the end the memberships rebuilt from what the demo
 * remctl backend received are compared with slapd's: the verdict is the
 * design's downstream (de-duplicated by id, ordered by csn per workgroup
 * member, `downstream.ts`); the arrival-order rebuild (`check.ts`) is
 * reported beside it.
 *
 * ```ts
 * const report = await runChaos({ dir: "/tmp/chaos", changes: 500, kills: 3 });
 * ```
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { SNSClient } from "@aws-sdk/client-sns";
import { parse, stringify } from "smol-toml";
import { sleep } from "../../lib/async.ts";
import { workgroupStem } from "../../lib/events/mod.ts";
import { freePorts } from "../stack/process.ts";
import { stackAwsConfig, unsubscribeQueue } from "../stack/aws.ts";
import { down, up } from "../stack/mod.ts";
import { adminArgs } from "../stack/ldap_admin.ts";
import type { StackInfo } from "../stack/types.ts";
import {
  compare,
  type Mismatch,
  parseCalls,
  parseDirectory,
  rebuild,
} from "./check.ts";
import { rebuildByCsn } from "./downstream.ts";
import { ChaosDriver, type DriverReport, seededRandom } from "./driver.ts";
import { expireTicket, freezeMoto, Gate, stopSlapdFor } from "./faults.ts";
import { SupervisedRole } from "./supervisor.ts";

/** The placeholders the chaos targets' command passes after `wgsync demo`; `{members}` goes on stdin. */
export const CHAOS_FIELDS = [
  "type",
  "workgroup",
  "stem",
  "member.dn",
  "previous",
  "id",
  "csn",
  "seq",
] as const;

/** Options of {@linkcode runChaos}. */
export interface ChaosOptions {
  /** Working directory (the stack and the roles' data go inside). */
  dir: string;
  /** Directory changes to make. @default {5000} */
  changes?: number;
  /** SIGKILLs of random roles. @default {10} */
  kills?: number;
  /** wgsync-ldap + wgsync-event pairs. @default {1} */
  pairs?: number;
  /** Bulk modifies (a workgroup's members replaced by `bulkMembers` others). @default {3} */
  bulk?: number;
  /** @default {2000} */
  bulkMembers?: number;
  /** The driver renames workgroups. @default {true} */
  renames?: boolean;
  /** Longest time moto is frozen and slapd stopped, each once, in ms (the shortest is a third of it); 0 skips. @default {30000} */
  outageMs?: number;
  /** Let wgsync-ldap's ticket cache expire once. @default {true} */
  expireTicket?: boolean;
  /** Longest pause between the driver's batches (ms). @default {150} */
  pauseMs?: number;
  /** Delay before a killed role is restarted (ms), as RestartSec=. @default {2000} */
  restartMs?: number;
  /** Longest wait for the pipeline to drain after the last change (ms). @default {300000} */
  drainMs?: number;
  /** @default {Date.now()} */
  seed?: number;
  /** Progress lines. @default {console.error} */
  log?: (line: string) => void;
  /** Leave the stack running at the end (its directory is printed). @default {false} */
  keep?: boolean;
  /** Ends the run early (the driver stops, the roles and the stack are stopped). */
  signal?: AbortSignal;
}

/** What a chaos run found. */
export interface ChaosReport {
  seed: number;
  pairs: number;
  driver: DriverReport;
  /** Faults injected, in order, with when they started (ms after the first change). */
  faults: { kind: string; target?: string; atMs: number }[];
  /** SIGKILLs the pipeline recovered from (roles restarted and the run drained). */
  killsSurvived: number;
  /** Backend calls that succeeded, duplicates included. */
  delivered: number;
  /** Distinct event ids the csn-ordered downstream applied (the stale ones not counted). */
  applied: number;
  /** Calls of an id already applied (suppressed by the downstream de-duplication). */
  duplicates: number;
  /** Calls whose command failed (the message came again). */
  failedCalls: number;
  /** Messages in the targets' dead-letter queues. */
  deadLetters: number;
  /** Workgroups compared (those of the targets' stems in the directory or downstream). */
  workgroups: number;
  /** The verdict: differences of the design's downstream (de-duplicated by id, ordered by csn per member) from the directory. */
  mismatches: Mismatch[];
  /** Events that downstream skipped as stale (older than what they would overwrite). */
  stale: number;
  /** Information: differences of a downstream applying events in arrival order. */
  arrivalMismatches: number;
  /** Events executed after one with a greater csn on the same name (arrival order); with one pair a pipeline order defect. */
  orderViolations: number;
  /** Whether the pipeline drained before `drainMs`. */
  drained: boolean;
  /** Unrequested exits of each role (SIGKILL and any other). */
  exits: Record<string, string[]>;
  durationMs: number;
}

/** Runs the chaos loop once; stops everything it started unless `keep`. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? ((line: string) => console.error(line));
  const seed = options.seed ?? Date.now();
  const random = seededRandom(seed);
  const pairs = options.pairs ?? 1;
  const changes = options.changes ?? 5000;
  const outageMs = options.outageMs ?? 30_000;
  const stackDir = `${options.dir}/stack`;
  await Deno.mkdir(options.dir, { recursive: true });
  await down(stackDir).catch(() => 0);
  const info = await up(stackDir, { log: () => {} });
  log(`chaos: stack up in ${stackDir}, seed ${seed}`);
  // wgsync-web does not run here: its queue would only fill and slow moto.
  {
    const sqs = new SQSClient(stackAwsConfig(info));
    const sns = new SNSClient(stackAwsConfig(info));
    await unsubscribeQueue(sqs, sns, {
      topicArn: info.aws.topicArn,
      queueUrl: info.aws.webQueueUrl,
    });
    sqs.destroy();
    sns.destroy();
  }
  const roles: SupervisedRole[] = [];
  try {
    const work = `${stackDir}/chaos`;
    await Deno.mkdir(work, { recursive: true });
    const configs = await writeConfigs(info, work, pairs);
    const supervise = (
      name: string,
      role: "ldap" | "event" | "remctl",
      config: string,
    ) =>
      new SupervisedRole(name, role, {
        args: ["--config", config],
        extraRead: [stackDir],
        extraWrite: [stackDir],
        env: { KRB5_CONFIG: info.krb5Config },
        logFile: `${work}/${name}.log`,
        restartMs: options.restartMs ?? 2000,
      });
    const events = configs.map((c, i) =>
      supervise(`event-${i + 1}`, "event", c)
    );
    const ldaps = configs.map((c, i) => supervise(`ldap-${i + 1}`, "ldap", c));
    const remctl = supervise("remctl", "remctl", configs[0]);
    roles.push(...events, ...ldaps, remctl);
    for (const role of events) role.start();
    await sleep(1500);
    for (const role of [...ldaps, remctl]) role.start();

    const gate = new Gate();
    const driver = new ChaosDriver(info, {
      random,
      gate,
      bulkMembers: options.bulkMembers ?? 2000,
      renames: options.renames ?? true,
    });
    await driver.prepare();
    const started = performance.now();
    const faults: ChaosReport["faults"] = [];
    const plan = planFaults(random, {
      kills: options.kills ?? 10,
      outage: outageMs > 0,
      ticket: options.expireTicket ?? true,
    });
    const driving = driver.run(changes, {
      bulk: options.bulk ?? 3,
      pauseMs: options.pauseMs ?? 150,
      signal: options.signal,
    });
    const injecting = (async () => {
      for (const fault of plan) {
        while (
          driver.report.changes + driver.report.refused < fault.at * changes
        ) {
          if (
            await Promise.race([
              driving.then(() => true),
              sleep(200).then(() => false),
            ])
          ) break;
        }
        const atMs = Math.round(performance.now() - started);
        if (options.signal?.aborted) break;
        const outage = outageMs * (1 + 2 * random()) / 3;
        if (fault.kind === "kill") {
          const victims = pickVictims(random, events, ldaps, remctl);
          // Kill a process that runs (not one waiting for its restart), and
          // not in the first seconds of its start-up.
          while (
            victims.some((v) => v.pid === undefined || v.uptimeMs < 2000) &&
            !options.signal?.aborted
          ) await sleep(200);
          const killedAt = Math.round(performance.now() - started);
          const killed = await Promise.all(victims.map((v) => v.kill()));
          const names = victims.filter((_, i) => killed[i]).map((v) => v.name);
          faults.push({
            kind: "kill",
            target: names.join("+"),
            atMs: killedAt,
          });
          log(`chaos: SIGKILL ${names.join(" + ")} at ${killedAt} ms`);
        } else if (fault.kind === "moto") {
          faults.push({ kind: "moto frozen", atMs });
          log(`chaos: moto frozen for ${Math.round(outage)} ms at ${atMs} ms`);
          await freezeMoto(info, outage);
        } else if (fault.kind === "slapd") {
          faults.push({ kind: "slapd stopped", atMs });
          log(
            `chaos: slapd stopped for ${Math.round(outage)} ms at ${atMs} ms`,
          );
          await stopSlapdFor(info, gate, outage);
        } else {
          faults.push({
            kind: "ticket expired",
            target: ldaps.map((r) => r.name).join("+"),
            atMs,
          });
          log(
            `chaos: ticket cache of wgsync-ldap left to expire at ${atMs} ms`,
          );
          await expireTicket(info, ldaps, { lifetimeSeconds: 5, ms: 8000 });
        }
      }
    })();
    const report = await driving;
    await injecting;
    log(
      `chaos: ${report.changes} changes made (${report.refused} refused) in ${
        Math.round(performance.now() - started)
      } ms; draining`,
    );
    const drained = await drain(
      info,
      configs.length,
      work,
      { timeoutMs: options.drainMs ?? 300_000, signal: options.signal },
    );
    const directory = parseDirectory(await searchWorkgroups(info));
    const calls = parseCalls(
      await Deno.readTextFile(info.remctl.callsFile),
      CHAOS_FIELDS,
    );
    const arrival = rebuild(calls);
    const downstream = rebuildByCsn(calls);
    const stems = new Set(["uit", "research-computing"]);
    const include = (name: string) => {
      const stem = workgroupStem(name);
      return stem !== undefined && stems.has(stem);
    };
    const compared = new Set(
      [
        ...directory.keys(),
        ...downstream.memberships.keys(),
        ...arrival.memberships.keys(),
      ].filter(include),
    );
    const kills = faults.filter((f) => f.kind === "kill" && f.target).length;
    return {
      seed,
      pairs,
      driver: report,
      faults,
      killsSurvived: drained ? kills : 0,
      delivered: downstream.delivered,
      applied: downstream.applied,
      duplicates: downstream.duplicates,
      failedCalls: downstream.failed,
      deadLetters: await deadLetters(info),
      workgroups: compared.size,
      mismatches: compare(downstream.memberships, directory, include),
      stale: downstream.stale,
      arrivalMismatches:
        compare(arrival.memberships, directory, include).length,
      orderViolations: arrival.orderViolations.length,
      drained,
      exits: Object.fromEntries(roles.map((r) => [r.name, r.exits])),
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    await Promise.all(roles.map((role) => role.stop()));
    if (!options.keep) await down(stackDir);
  }
}

type FaultKind = "kill" | "moto" | "slapd" | "ticket";

/** Fault times as fractions of the changes, in order. */
function planFaults(
  random: () => number,
  options: { kills: number; outage: boolean; ticket: boolean },
): { kind: FaultKind; at: number }[] {
  const plan: { kind: FaultKind; at: number }[] = [];
  for (let i = 0; i < options.kills; i++) {
    plan.push({ kind: "kill", at: 0.05 + random() * 0.9 });
  }
  if (options.outage) {
    plan.push({ kind: "moto", at: 0.1 + random() * 0.8 });
    plan.push({ kind: "slapd", at: 0.1 + random() * 0.8 });
  }
  if (options.ticket) plan.push({ kind: "ticket", at: 0.1 + random() * 0.8 });
  return plan.sort((a, b) => a.at - b.at);
}

/** One role at random; with two pairs, sometimes a whole pair. */
function pickVictims(
  random: () => number,
  events: SupervisedRole[],
  ldaps: SupervisedRole[],
  remctl: SupervisedRole,
): SupervisedRole[] {
  const r = random();
  const pair = Math.floor(random() * events.length);
  if (events.length > 1 && r < 0.5) return [ldaps[pair], events[pair]];
  if (r < 0.65) return [remctl];
  return [random() < 0.5 ? ldaps[pair] : events[pair]];
}

/** Writes one config per pair: the stack's, with its own store, channel socket and metrics ports. */
async function writeConfigs(
  info: StackInfo,
  work: string,
  pairs: number,
): Promise<string[]> {
  const base = parse(await Deno.readTextFile(info.config)) as Record<
    string,
    Record<string, unknown>
  >;
  const paths: string[] = [];
  for (let i = 1; i <= pairs; i++) {
    const dir = `${work}/pair-${i}`;
    await Deno.mkdir(`${dir}/ldap`, { recursive: true, mode: 0o700 });
    const [ldapMetrics, eventMetrics, remctlMetrics] = freePorts(3).map((p) =>
      `127.0.0.1:${p}`
    );
    const config = structuredClone(base);
    delete config.web;
    config.ldap.data_dir = `${dir}/ldap`;
    config.ldap.metrics_listen = ldapMetrics;
    // Each wgsync-ldap answers its own control socket (a second one refuses
    // to start on a socket another answers).
    config.ldap.control_socket = `${dir}/ldap-control.sock`;
    // Deletions made while a consumer is down come in its next refresh; the
    // run deletes more than the default 10 % guard lets through unattended.
    config.ldap.mass_delete_threshold = 1;
    config.channel.socket = `${dir}/event.sock`;
    config.event.metrics_listen = eventMetrics;
    config.remctl.metrics_listen = remctlMetrics;
    const targets = config.remctl.targets as { command: string[] }[];
    for (const target of targets) {
      target.command = [
        ...target.command.slice(0, 2),
        ...CHAOS_FIELDS.map((field) => `{${field}}`),
        "{members}",
      ];
    }
    const path = `${dir}/wgsync.toml`;
    await Deno.writeTextFile(path, stringify(config) + "\n");
    paths.push(path);
  }
  return paths;
}

/** The workgroups under the workgroup base, as `ldapsearch -LLL` prints them. */
async function searchWorkgroups(info: StackInfo): Promise<string> {
  const output = await new Deno.Command("ldapsearch", {
    args: [
      ...adminArgs(info),
      "-LLL",
      "-o",
      "ldif-wrap=no",
      "-b",
      info.ldap.workgroupBase,
      "-s",
      "one",
      "(objectClass=groupOfNames)",
      "cn",
      "member",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `ldapsearch of the workgroups failed (exit ${output.code}): ${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
  return new TextDecoder().decode(output.stdout);
}

async function queueDepth(sqs: SQSClient, url: string): Promise<number> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
      ],
    }),
  );
  return Number(Attributes.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0);
}

async function deadLetters(info: StackInfo): Promise<number> {
  const sqs = new SQSClient(stackAwsConfig(info));
  try {
    let total = 0;
    for (const queue of info.aws.queues) {
      total += await queueDepth(sqs, queue.dlqUrl);
    }
    return total;
  } finally {
    sqs.destroy();
  }
}

function outboxRows(path: string): number {
  try {
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      return Number(
        (db.prepare("SELECT count(*) AS n FROM outbox").get() as { n: number })
          .n,
      );
    } finally {
      db.close();
    }
  } catch {
    return -1;
  }
}

/**
 * Waits until every pair's outbox is empty, the targets' queues are empty
 * and the calls file stopped growing for 10 s; false after `timeoutMs`.
 */
async function drain(
  info: StackInfo,
  pairs: number,
  work: string,
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<boolean> {
  const { timeoutMs, signal } = options;
  const sqs = new SQSClient(stackAwsConfig(info));
  const deadline = Date.now() + timeoutMs;
  let lastSize = -1;
  let stableSince = Date.now();
  try {
    while (Date.now() < deadline && !signal?.aborted) {
      await sleep(1000);
      const size =
        (await Deno.stat(info.remctl.callsFile).catch(() => ({ size: 0 })))
          .size;
      if (size !== lastSize) {
        lastSize = size;
        stableSince = Date.now();
        continue;
      }
      if (Date.now() - stableSince < 10_000) continue;
      let busy = false;
      for (let i = 1; i <= pairs && !busy; i++) {
        busy = outboxRows(`${work}/pair-${i}/ldap/store.sqlite`) !== 0;
      }
      for (const queue of info.aws.queues) {
        if (busy) break;
        busy = await queueDepth(sqs, queue.url).catch(() => 1) > 0;
      }
      if (!busy) return true;
    }
    return false;
  } finally {
    sqs.destroy();
  }
}
