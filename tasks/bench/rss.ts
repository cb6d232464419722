/**
 * `deno task bench`'s large-directory section: wgsync-ldap and wgsync-event
 * as processes (the stack's own configuration) on a generated directory of
 * `groups` workgroups, from start until the first refresh's events were all
 * published (wgsync-ldap's outbox empty: wgsync-event acknowledges an event
 * only once SNS accepted it); then each role's peak RSS (VmHWM) and the time
 * it took. The generated stems match no demo target, so SNS hands the
 * messages to no queue (wgsync-web's is unsubscribed) and moto keeps up;
 * wgsync-remctl has nothing to carry at this size and is not run.
 *
 * @module
 */

import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import { sleep } from "../../lib/async.ts";
import { stackAwsConfig, unsubscribeQueue } from "../stack/aws.ts";
import { down, up } from "../stack/mod.ts";
import { hwmKiB } from "../bench_role.ts";
import { benchRole, outboxRows } from "./pipeline.ts";

/** What {@linkcode measureRss} found. */
export interface RssFigures {
  groups: number;
  members: number;
  /** Start of both roles to the outbox empty, ms. */
  drainMs: number;
  /** VmHWM per role, KiB. */
  rssKiB: Record<string, number>;
}

/** Runs wgsync-event and wgsync-ldap on `groups` × `members` until every first-refresh event was published. */
export async function measureRss(
  dir: string,
  options: {
    groups: number;
    members: number;
    log: (line: string) => void;
    /** Give up after this long. @default {1_200_000} */
    timeoutMs?: number;
  },
): Promise<RssFigures> {
  const { groups, members, log } = options;
  const info = await up(dir, {
    groups,
    members,
    people: Math.max(members, 1000),
    log: () => {},
  });
  const aws = stackAwsConfig(info);
  const sqs = new SQSClient(aws);
  const sns = new SNSClient(aws);
  const roles = (["event", "ldap"] as const).map((role) =>
    benchRole(info, role)
  );
  try {
    await unsubscribeQueue(sqs, sns, {
      topicArn: info.aws.topicArn,
      queueUrl: info.aws.webQueueUrl,
    });
    const started = performance.now();
    for (const role of roles) {
      role.start();
      if (role.name === "event") await sleep(1000);
    }
    const store = `${info.dir}/data/ldap/store.sqlite`;
    const ldapLog = `${info.dir}/logs/bench-ldap.log`;
    const deadline = started + (options.timeoutMs ?? 1_200_000);
    for (;;) {
      let rows: number | undefined;
      try {
        rows = outboxRows(store);
      } catch {
        // The store does not exist yet, or is busy with the first refresh.
      }
      // Empty only counts once the first refresh ended (READY=1 follows it).
      if (rows === 0 && await ready(ldapLog)) break;
      if (performance.now() > deadline) {
        throw new Error(
          `bench: the outbox still held ${rows ?? "?"} events after ${
            options.timeoutMs ?? 1_200_000
          } ms`,
        );
      }
      await sleep(500);
    }
    const drainMs = performance.now() - started;
    log(
      `bench: ${groups} × ${members}: every first-refresh event published in ${
        drainMs.toFixed(0)
      } ms`,
    );
    return {
      groups,
      members,
      drainMs,
      rssKiB: Object.fromEntries(
        roles.map((role) => [`wgsync-${role.name}`, hwmKiB(role.pid!)]),
      ),
    };
  } finally {
    await Promise.all(roles.map((role) => role.stop()));
    sqs.destroy();
    sns.destroy();
    await down(dir);
  }
}

async function ready(logFile: string): Promise<boolean> {
  try {
    return /Ready: running/.test(await Deno.readTextFile(logFile));
  } catch {
    return false;
  }
}
