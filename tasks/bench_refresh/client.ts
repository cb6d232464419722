/**
 * The sync client's refresh in `deno task bench:refresh`: connect, bind,
 * decode every entry and count members, timed beside ldapsearch with a
 * simple bind and with SASL GSSAPI; its peak RSS in a fresh process.
 *
 * @module
 */

import { SyncClient } from "../../lib/ldap/mod.ts";
import type { StackInfo } from "../stack/types.ts";
import {
  ATTRIBUTES,
  FILTER,
  type Measure,
  median,
  type Target,
  target,
  timeLdapsearch,
} from "./common.ts";
import { childAndLdapsearchRss, procStatusKiB, warmUp } from "./rss.ts";

/** One refresh with the client: connect, bind, decode every entry, count members. */
export async function clientRefresh(target: Target): Promise<Measure> {
  const started = performance.now();
  const client = new SyncClient({
    url: target.url,
    bind: target.bind,
    baseDN: target.base,
    scope: "one",
    filter: FILTER,
    attributes: ATTRIBUTES,
    mode: "refreshOnly",
    reconnect: { maxAttempts: 1 },
  });
  let entries = 0;
  let members = 0;
  for await (const message of client.sync()) {
    if (message.kind !== "entry") continue;
    entries++;
    members += message.attributes.member?.length ?? 0;
  }
  await client.close();
  return { ms: performance.now() - started, entries, members };
}

/** The client's refresh beside ldapsearch, interleaved; prints both medians and the ratio. */
export async function compare(
  stack: StackInfo,
  gssapi: boolean,
  runs: number,
): Promise<void> {
  const label = gssapi
    ? "SASL GSSAPI, confidentiality layer"
    : "simple bind, no TLS";
  const expected = stack.data.workgroups;
  // One warm-up each: slapd's caches, the JIT, the KDC's service ticket.
  await timeLdapsearch(stack, gssapi);
  await clientRefresh(target(stack, gssapi));
  const anchor: number[] = [];
  const ours: number[] = [];
  for (let i = 0; i < runs; i++) {
    anchor.push(await timeLdapsearch(stack, gssapi));
    const measure = await clientRefresh(target(stack, gssapi));
    if (
      measure.entries !== expected ||
      measure.members !== stack.data.memberValues
    ) {
      throw new Error(
        `the client saw ${measure.entries} entries and ${measure.members} members, expected ${expected} and ${stack.data.memberValues}`,
      );
    }
    ours.push(measure.ms);
  }
  const a = median(anchor);
  const c = median(ours);
  const rate = (ms: number) =>
    Math.round(expected / (ms / 1000)).toLocaleString("en-US");
  console.log(`\n${label}: ${expected} entries, ${runs} interleaved runs`);
  console.log(
    `  ldapsearch -E '!sync=ro' > /dev/null  median ${a.toFixed(1)} ms  ${
      rate(a)
    } entries/s`,
  );
  console.log(
    `  wgsync sync client (decode + count)   median ${c.toFixed(1)} ms  ${
      rate(c)
    } entries/s`,
  );
  console.log(
    `  ratio client/ldapsearch ${
      (c / a).toFixed(2)
    } (goal <= 1.5)  [runs: ldapsearch ${
      anchor.map((v) => v.toFixed(0)).join(" ")
    } | client ${ours.map((v) => v.toFixed(0)).join(" ")}]`,
  );
}

/** Peak RSS of one client refresh in a fresh process, and of ldapsearch. */
export async function peakRss(stack: StackInfo): Promise<void> {
  const { child, ldapsearchKiB } = await childAndLdapsearchRss<Measure>(
    stack,
    "--child",
    ATTRIBUTES,
  );
  const mib = (kib: number) => (kib / 1024).toFixed(1);
  console.log(
    `\npeak RSS at ${stack.data.workgroups} workgroups × ${
      stack.data.memberValues / stack.data.workgroups
    } members (${child.entries} entries, ${child.members} members decoded in ${
      child.ms.toFixed(0)
    } ms):`,
  );
  console.log(
    `  client process VmHWM ${
      mib(child.hwmKiB)
    } MiB (VmRSS after connect+bind, before the refresh: ${
      mib(child.rssBeforeKiB)
    } MiB)`,
  );
  console.log(`  ldapsearch max RSS  ${mib(ldapsearchKiB)} MiB`);
}

/** The `--child` process: one client refresh; prints its measure and RSS figures as JSON. */
export async function child(json: string): Promise<void> {
  const t = JSON.parse(json) as Target;
  await warmUp(t);
  const rssBeforeKiB = procStatusKiB("VmRSS");
  const measure = await clientRefresh(t);
  console.log(
    JSON.stringify({
      ...measure,
      rssBeforeKiB,
      hwmKiB: procStatusKiB("VmHWM"),
    }),
  );
}
