/**
 * `deno task bench:refresh [--groups G] [--members M] [--runs N] [--rss-groups A,B] [--no-gssapi] [--keep]`
 *
 * Loads G workgroups of M members (default 20,000 × 20) into a local stack
 * (`deno task stack up DIR --groups G --members M`) and times, interleaved in
 * the same run, `ldapsearch -E '!sync=ro'` writing to /dev/null (the anchor)
 * against this project's sync client doing the same refresh (every entry
 * decoded, members counted): with a simple bind, then with SASL GSSAPI and
 * the confidentiality layer. Prints both medians, entries per second and the
 * ratio (goal: the client within 1.5× of ldapsearch).
 *
 * Then it measures the client's peak RSS (VmHWM from /proc) doing one
 * refresh in a fresh subprocess, at each size of `--rss-groups` (default
 * 20,000 and 100,000), beside ldapsearch's peak RSS for the same refresh.
 *
 * The client is timed in-process from connect to the end of the refresh;
 * ldapsearch's time is its whole process (start-up is a few milliseconds).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { type BindOptions, SyncClient } from "../lib/ldap/mod.ts";
import type { StackInfo } from "./stack/types.ts";

const STACK_CLI = fileURLToPath(new URL("./stack.ts", import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const FILTER = "(objectClass=groupOfNames)";
const ATTRIBUTES = ["cn", "member"];

interface Target {
  url: string;
  base: string;
  bind: BindOptions;
}

interface Measure {
  ms: number;
  entries: number;
  members: number;
}

function positiveInteger(name: string, value: string): number {
  const number = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(number) || number < 1) {
    throw new Error(`--${name} is "${value}": expected a positive integer`);
  }
  return number;
}

async function run(
  command: string,
  args: string[],
  env?: Record<string, string>,
): Promise<string> {
  const output = await new Deno.Command(command, {
    args,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `${command} ${args.join(" ")} failed (exit ${output.code}): ${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
  return new TextDecoder().decode(output.stdout);
}

async function stackUp(
  dir: string,
  groups: number,
  members: number,
): Promise<StackInfo> {
  console.error(
    `bench: loading ${groups} workgroups × ${members} members into ${dir}`,
  );
  const out = await run(Deno.execPath(), [
    "run",
    "--frozen",
    "--cached-only",
    "--allow-all",
    STACK_CLI,
    "up",
    dir,
    "--groups",
    String(groups),
    "--members",
    String(members),
  ]);
  return JSON.parse(out) as StackInfo;
}

async function stackDown(dir: string, keep: boolean): Promise<void> {
  await run(Deno.execPath(), ["run", "--allow-all", STACK_CLI, "down", dir]);
  if (!keep) await Deno.remove(dir, { recursive: true });
}

function kerberosEnv(stack: StackInfo): Record<string, string> {
  return {
    KRB5_CONFIG: stack.krb5Config,
    KRB5CCNAME: `FILE:${stack.ccaches.ldapClient}`,
  };
}

function ldapsearchArgs(stack: StackInfo, gssapi: boolean): string[] {
  const auth = gssapi
    ? [
      "-Y",
      "GSSAPI",
      "-N",
      "-Q",
      "-O",
      "minssf=256",
      "-H",
      stack.ldap.gssapiUrl,
    ]
    : [
      "-x",
      "-H",
      stack.ldap.url,
      "-D",
      stack.ldap.adminDn,
      "-y",
      stack.ldap.adminPasswordFile,
    ];
  return [
    ...auth,
    "-b",
    stack.ldap.workgroupBase,
    "-s",
    "one",
    "-E",
    "!sync=ro",
    FILTER,
    ...ATTRIBUTES,
  ];
}

/** Times ldapsearch writing its output to /dev/null. */
async function timeLdapsearch(
  stack: StackInfo,
  gssapi: boolean,
): Promise<number> {
  const started = performance.now();
  const status = await new Deno.Command("ldapsearch", {
    args: ldapsearchArgs(stack, gssapi),
    env: gssapi ? kerberosEnv(stack) : undefined,
    stdout: "null",
    stderr: "piped",
  }).output();
  const ms = performance.now() - started;
  if (!status.success) {
    throw new Error(
      `ldapsearch failed: ${new TextDecoder().decode(status.stderr)}`,
    );
  }
  return ms;
}

/** One refresh with the client: connect, bind, decode every entry, count members. */
async function clientRefresh(target: Target): Promise<Measure> {
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

function target(stack: StackInfo, gssapi: boolean): Target {
  return {
    url: gssapi ? stack.ldap.gssapiUrl : stack.ldap.url,
    base: stack.ldap.workgroupBase,
    bind: gssapi
      ? {
        method: "gssapi",
        ccache: stack.ccaches.ldapClient,
        layers: ["confidentiality"],
      }
      : {
        method: "simple",
        dn: stack.ldap.adminDn,
        passwordFile: stack.ldap.adminPasswordFile,
      },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function compare(
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
async function peakRss(stack: StackInfo): Promise<void> {
  const out = await run(Deno.execPath(), [
    "run",
    "--frozen",
    "--cached-only",
    "--allow-all",
    SELF,
    "--child",
    JSON.stringify(target(stack, false)),
  ]);
  const child = JSON.parse(out) as Measure & {
    rssBeforeKiB: number;
    hwmKiB: number;
  };
  const time = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%M", "ldapsearch", ...ldapsearchArgs(stack, false)],
    stdout: "null",
    stderr: "piped",
  }).output();
  const ldapsearchKiB = Number(
    new TextDecoder().decode(time.stderr).trim().split("\n").at(-1),
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

function procStatusKiB(field: string): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
  if (!match) throw new Error(`no ${field} in /proc/self/status`);
  return Number(match[1]);
}

async function child(json: string): Promise<void> {
  const t = JSON.parse(json) as Target;
  // A first tiny search warms the code paths so VmRSS before the refresh is the base line.
  const warm = new SyncClient({
    url: t.url,
    bind: t.bind,
    baseDN: t.base,
    scope: "base",
    mode: "refreshOnly",
    reconnect: { maxAttempts: 1 },
  });
  for await (const _ of warm.sync()) { /* drain */ }
  await warm.close();
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

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      groups: { type: "string", default: "20000" },
      members: { type: "string", default: "20" },
      runs: { type: "string", default: "7" },
      "rss-groups": { type: "string", default: "20000,100000" },
      "no-gssapi": { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      child: { type: "string" },
    },
  });
  if (values.child !== undefined) return await child(values.child);
  const groups = positiveInteger("groups", values.groups);
  const members = positiveInteger("members", values.members);
  const runs = positiveInteger("runs", values.runs);
  const rssGroups = values["rss-groups"] === ""
    ? []
    : values["rss-groups"].split(",").map((v) =>
      positiveInteger("rss-groups", v)
    );

  const dirs: string[] = [];
  const stop = async () => {
    for (const dir of dirs.splice(0)) {
      await stackDown(dir, values.keep).catch(() => {});
    }
  };
  const onSignal = () => stop().finally(() => Deno.exit(130));
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    const dir = await Deno.makeTempDir({ prefix: "wgsync-bench-" });
    dirs.push(dir);
    const stack = await stackUp(dir, groups, members);
    Deno.env.set("KRB5_CONFIG", stack.krb5Config);
    await compare(stack, false, runs);
    if (!values["no-gssapi"]) await compare(stack, true, runs);
    for (const size of rssGroups) {
      if (size === groups) {
        await peakRss(stack);
        continue;
      }
      const other = await Deno.makeTempDir({ prefix: "wgsync-bench-" });
      dirs.push(other);
      try {
        await peakRss(await stackUp(other, size, members));
      } finally {
        dirs.splice(dirs.indexOf(other), 1);
        await stackDown(other, values.keep);
      }
    }
  } finally {
    await stop();
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}

await main();
