/**
 * `deno task bench [--sizes 20000x20,100000x10] [--runs 1] [--latency 1000]
 *  [--spacing-ms 20] [--throughput 2000] [--writers 4] [--cli-calls 50]
 *  [--remctl-commands 200] [--rss-groups 100000] [--record tasks/BENCHMARKS.md]`
 *
 * The proof figures in ONE run, each beside its anchor measured in the same
 * run (absolute figures are noisy on a shared machine; the ratios are what
 * we track):
 *
 * 1. wgsync-ldap's first refresh, spawn → READY=1, at each size, as systemd
 *    runs it (the bundle `deno task compile` builds) and from source, beside
 *    ldapsearch `-E '!sync=ro'` doing the same work (whole process; for the
 *    operator set-up also with ldapsearch's default SASL layer), python-ldap's
 *    SyncreplConsumer writing the entries into SQLite, and the storage floor
 *    (bare node:sqlite writing rows of the same shape; tasks/bench/refresh.ts);
 * 2. the pipeline on the sample data: latency LDAP write → SNS accepted →
 *    remctl backend ran, persist-phase changes/s to acknowledged / SNS
 *    accepted / remctl ran beside ldapmodify, a bare PublishBatch loop and
 *    sequential remctl CLI calls, peak RSS per role (tasks/bench/pipeline.ts);
 * 3. wgsync-ldap and wgsync-event on a generated directory of `--rss-groups`
 *    workgroups until every first-refresh event was published: peak RSS of
 *    each and the time (tasks/bench/rss.ts; 0 skips it);
 * 4. remctl commands/s through wgsync-remctl's client beside sequential
 *    remctl CLI calls (`tasks/bench_remctl.ts`, its output quoted).
 *
 * Writes the record (`--record`, default tasks/BENCHMARKS.md; the chaos
 * section between `<!-- chaos:begin -->` and `<!-- chaos:end -->` is kept).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { measurePipeline, type PipelineFigures } from "./bench/pipeline.ts";
import { measureRss, type RssFigures } from "./bench/rss.ts";
import {
  measureRefresh,
  pythonLdapVersion,
  type RefreshFigures,
} from "./bench/refresh.ts";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "20000x20,100000x10" },
    runs: { type: "string", default: "1" },
    latency: { type: "string", default: "1000" },
    "spacing-ms": { type: "string", default: "20" },
    throughput: { type: "string", default: "2000" },
    writers: { type: "string", default: "4" },
    "cli-calls": { type: "string", default: "50" },
    "remctl-commands": { type: "string", default: "200" },
    "rss-groups": { type: "string", default: "100000" },
    record: {
      type: "string",
      default: new URL("./BENCHMARKS.md", import.meta.url).pathname,
    },
  },
});

function count(name: string, text: string, min = 0): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    console.error(
      `bench: --${name} is "${text}": expected an integer of at least ${min}`,
    );
    Deno.exit(2);
  }
  return value;
}

const sizes = values.sizes === "" ? [] : values.sizes.split(",").map((s) => {
  const match = /^(\d+)x(\d+)$/.exec(s);
  if (!match) {
    console.error(`bench: --sizes has "${s}": expected GROUPSxMEMBERS`);
    Deno.exit(2);
  }
  return { groups: Number(match[1]), members: Number(match[2]) };
});
const runs = count("runs", values.runs, 1);
const log = (line: string) => console.error(line);
const started = new Date();
const machine = await machineFacts();
const python = await pythonLdapVersion();
const root = await Deno.makeTempDir({ prefix: "wgsync-bench-" });
const refresh: RefreshFigures[] = [];
let pipeline: PipelineFigures | undefined;
let large: RssFigures | undefined;
let remctl = "";
try {
  for (const size of sizes) {
    refresh.push(
      await measureRefresh(`${root}/refresh-${size.groups}x${size.members}`, {
        ...size,
        runs,
        python: python !== undefined,
        log,
      }),
    );
  }
  pipeline = await measurePipeline(`${root}/pipeline`, {
    latencyChanges: count("latency", values.latency, 1),
    spacingMs: count("spacing-ms", values["spacing-ms"]),
    throughputChanges: count("throughput", values.throughput, 1),
    writers: count("writers", values.writers, 1),
    cliCalls: count("cli-calls", values["cli-calls"], 1),
    log,
  });
  const rssGroups = count("rss-groups", values["rss-groups"], 0);
  if (rssGroups > 0) {
    large = await measureRss(`${root}/rss`, {
      groups: rssGroups,
      members: 10,
      log,
    });
  }
  const commands = count("remctl-commands", values["remctl-commands"], 0);
  if (commands > 0) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--frozen",
        "--cached-only",
        "--allow-all",
        new URL("./bench_remctl.ts", import.meta.url).pathname,
        "--commands",
        String(commands),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    remctl = new TextDecoder().decode(output.stdout).trim() ||
      `bench_remctl.ts failed (exit ${output.code}): ${
        new TextDecoder().decode(output.stderr)
      }`;
  }
} finally {
  await Deno.remove(root, { recursive: true }).catch(() => {});
}
const text = render();
console.log(text);
await writeRecord(values.record, text);
console.error(`bench: wrote ${values.record}`);

async function machineFacts(): Promise<string[]> {
  const read = (path: string) => Deno.readTextFile(path).catch(() => "");
  const cpu = /model name\s*:\s*(.*)/.exec(await read("/proc/cpuinfo"))?.[1];
  const mem = /MemTotal:\s*(\d+)/.exec(await read("/proc/meminfo"))?.[1];
  const load = (await read("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  return [
    `CPU: ${navigator.hardwareConcurrency} × ${cpu ?? "unknown"}; memory ${
      mem ? (Number(mem) / 1024 / 1024).toFixed(1) : "?"
    } GiB; Linux ${Deno.osRelease()}; Deno ${Deno.version.deno}`,
    `Load average at the start: ${load} (the machine is shared with other sessions' builds and tests: absolute figures are noisy, compare ratios)`,
  ];
}

function render(): string {
  const ms = (v: number) => `${v.toFixed(0)} ms`;
  const mib = (kib: number | undefined) =>
    kib === undefined || Number.isNaN(kib)
      ? "—"
      : `${(kib / 1024).toFixed(0)} MiB`;
  const per = (n: number, v: number) =>
    `${Math.round(n / (v / 1000)).toLocaleString("en-US")}/s`;
  const lines = [
    "# wgsync benchmarks",
    "",
    `Recorded ${
      started.toISOString().slice(0, 16)
    }Z by \`deno task bench --sizes ${values.sizes} --runs ${runs} --latency ${values.latency} --spacing-ms ${
      values["spacing-ms"]
    } --throughput ${values.throughput} --writers ${values.writers}\` (one run; every anchor measured in the same run).`,
    "",
    ...machine.map((m) => `- ${m}`),
    `- python-ldap: ${
      python === undefined
        ? "not importable by /usr/bin/python3: the python-ldap anchor was not measured (PyPI is unreachable here; Debian's python3-ldap provides it)"
        : `${python} (Debian python3-ldap for /usr/bin/python3; \`pip install python-ldap\` cannot reach PyPI here)`
    }`,
    "",
    "## First refresh: wgsync-ldap spawn → READY=1",
    "",
    "`simple`: simple bind, no TLS, workgroups only. `operator`: the stack's own config (StartTLS + SASL GSSAPI from the k5start cache, people then workgroups); its same-work ldapsearch anchor uses StartTLS + GSSAPI with `-O maxssf=0` (the role negotiates no SASL layer inside TLS), the default one adds ldapsearch's own SASL layer (SSF 256 inside TLS; the anchor the first-refresh goals were set against: within 2.5× at 20,000 × 20 and 2× at 100,000 × 10). wgsync-ldap runs as systemd runs it — the bundle `deno task compile` builds, with its launcher's flags — and, in the next column, from source (`roles/ldap.ts`, as `deno task dev:ldap`); the figures after that are the bundle's. The role sends its events over the channel to an acknowledging server (tasks/bench_role.ts). python-ldap: SyncreplConsumer, refreshOnly, simple bind, every entry into SQLite in one transaction, whole process. Storage floor: bare node:sqlite writing rows of the same shape into the store's schema with its tuning, no LDAP (tasks/bench/store_floor.ts).",
    "",
    "| workgroups × members | set-up | ldapsearch same work | ldapsearch default | python-ldap → SQLite | storage floor | wgsync-ldap READY=1 | from source | ratio to ldapsearch same work | ratio to ldapsearch default | ratio to python-ldap | entries/s | CPU at READY=1 | peak RSS wgsync-ldap | peak RSS python | store |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const f of refresh) {
    for (const setup of ["simple", "operator"] as const) {
      const role = f.role[setup];
      const anchor = f.ldapsearchMs[setup];
      const withLayer = setup === "operator"
        ? f.ldapsearchDefaultMs
        : undefined;
      const py = setup === "simple" ? f.pythonMs : undefined;
      lines.push(
        `| ${f.groups.toLocaleString("en-US")} × ${f.members} | ${setup} | ${
          ms(anchor)
        } | ${withLayer === undefined ? "—" : ms(withLayer)} | ${
          py === undefined ? "—" : ms(py)
        } | ${ms(f.storeFloorMs)} | ${ms(role.readyMs)} | ${
          ms(f.source[setup].readyMs)
        } | ${(role.readyMs / anchor).toFixed(2)} | ${
          withLayer === undefined ? "—" : (role.readyMs / withLayer).toFixed(2)
        } | ${py === undefined ? "—" : (role.readyMs / py).toFixed(2)} | ${
          per(f.groups, role.readyMs)
        } | ${ms(role.cpuReadyMs)} | ${mib(role.hwmKiB)} | ${
          setup === "simple" ? mib(f.pythonRssKiB) : "—"
        } | ${mib(role.storeBytes / 1024)} |`,
      );
    }
  }
  if (pipeline !== undefined) {
    const { latency, throughput, rssKiB } = pipeline;
    const p = (x: { p50: number; p99: number; max: number }) =>
      `${x.p50.toFixed(1)} / ${x.p99.toFixed(1)} / ${x.max.toFixed(1)} ms`;
    lines.push(
      "",
      "## Pipeline on the sample data (StartTLS + GSSAPI, the demo remctl targets)",
      "",
      `Latency over ${latency.changes} member additions, ${latency.spacingMs} ms apart, from the directory's commit (entryCSN):`,
      "",
      "| to | p50 / p99 / max |",
      "| --- | --- |",
      `| SNS accepted (observer queue's SentTimestamp) | ${p(latency.toSns)} |`,
      `| remctl backend ran (includes the demo backend's own Deno start-up) | ${
        p(latency.toRemctl)
      } |`,
      "",
      `Persist phase: ${throughput.changes} member additions by ${throughput.writers} ldapmodify processes, from the first commit:`,
      "",
      "| stage | changes/s | anchor (same run) | ratio |",
      "| --- | --- | --- | --- |",
      `| written (ldapmodify) | ${throughput.ldapmodify.toFixed(0)} | — | — |`,
      `| acknowledged by wgsync-event (outbox empty) | ${
        throughput.acknowledged.toFixed(0)
      } | ldapmodify ${throughput.ldapmodify.toFixed(0)} | ${
        (throughput.acknowledged / throughput.ldapmodify).toFixed(2)
      } |`,
      `| SNS accepted | ${
        throughput.snsAccepted.toFixed(0)
      } | bare PublishBatch loop ${
        throughput.barePublishBatch.toFixed(0)
      } msg/s | ${
        (throughput.snsAccepted / throughput.barePublishBatch).toFixed(2)
      } |`,
      `| remctl backend ran | ${
        throughput.remctlRan.toFixed(1)
      } | sequential remctl CLI ${
        throughput.remctlCli.toFixed(1)
      } calls/s (${throughput.cliCalls} calls, same command) | ${
        (throughput.remctlRan / throughput.remctlCli).toFixed(2)
      } |`,
      "",
      "Peak RSS (VmHWM) at the end of the pipeline section: " +
        Object.entries(rssKiB).map(([role, kib]) => `${role} ${mib(kib)}`).join(
          ", ",
        ) +
        ".",
    );
  }
  if (large !== undefined) {
    lines.push(
      "",
      `## ${
        large.groups.toLocaleString("en-US")
      } workgroups × ${large.members}: wgsync-ldap and wgsync-event until every first-refresh event was published`,
      "",
      `Both roles as processes with the stack's own configuration (StartTLS + GSSAPI); the generated stems match no demo target, so wgsync-remctl has nothing to carry and is not run. Start to the outbox empty (wgsync-event acknowledges only what SNS accepted): ${
        (large.drainMs / 1000).toFixed(1)
      } s, ${
        (large.groups / (large.drainMs / 1000)).toFixed(0)
      } events/s. Peak RSS (VmHWM): ` +
        Object.entries(large.rssKiB).map(([role, kib]) => `${role} ${mib(kib)}`)
          .join(", ") +
        ".",
    );
  }
  if (remctl !== "") {
    lines.push(
      "",
      "## remctl commands/s (`tasks/bench_remctl.ts`, in the same run)",
      "",
      "```",
      remctl,
      "```",
    );
  }
  return lines.join("\n") + "\n";
}

async function writeRecord(path: string, body: string): Promise<void> {
  const begin = "<!-- chaos:begin -->";
  const end = "<!-- chaos:end -->";
  let old = "";
  try {
    old = await Deno.readTextFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const from = old.indexOf(begin);
  const to = old.indexOf(end);
  const chaos = from >= 0 && to > from
    ? `\n## Chaos runs\n\n${old.slice(from, to + end.length)}\n`
    : "";
  await Deno.writeTextFile(path, body + chaos);
}
