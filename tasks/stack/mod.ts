/**
 * The local stack: a real MIT KDC, k5start, slapd (syncprov, SASL/GSSAPI,
 * StartTLS), remctld and moto's server, all inside one directory on
 * 127.0.0.1 with random free ports.
 *
 * ```ts
 * const info = await up("/tmp/stack");   // writes /tmp/stack/stack.json
 * await restartSlapd(info);              // same config and data, new PID
 * await down("/tmp/stack");              // stops only what up started
 * ```
 *
 * @module
 */

import { AWS_SETTINGS, provisionAws, startMoto } from "./aws.ts";
import { writeConfig } from "./config.ts";
import type { StackContext } from "./context.ts";
import {
  ADMIN_DN,
  CONSUMER_DN,
  PEOPLE_BASE,
  planData,
  SUFFIX,
  WORKGROUP_BASE,
} from "./data.ts";
import { StackError } from "./errors.ts";
import { startK5start } from "./k5start.ts";
import { writeEncryptedKeytabs } from "./keytabs.ts";
import { createRealm, keytabsOf, startKdc, writeKrb5Config } from "./kdc.ts";
import { createLayout, layoutOf, REALM, resetLayout } from "./layout.ts";
import { checkPrerequisites } from "./prerequisites.ts";
import { freePorts, isRunning, stopProcesses } from "./process.ts";
import { DEMO_COMMAND, startRemctld } from "./remctld.ts";
import { configureSlapd, loadData, startSlapd, stopSlapd } from "./slapd.ts";
import { createTls } from "./tls.ts";
import type { DataOptions, StackInfo, StackProcess } from "./types.ts";

export type { DataOptions, StackInfo, StackProcess } from "./types.ts";
export { StackError } from "./errors.ts";

/** Options of {@linkcode up}. */
export interface UpOptions extends DataOptions {
  /** Receives progress lines; default: write them to stderr. */
  log?: (line: string) => void;
  /** Aborts a running `up`: it stops what it started and rejects. */
  signal?: AbortSignal;
}

/**
 * Starts every part of the stack inside `dir` (created if missing) and writes
 * `dir/stack.json`. If any part fails, everything already started is stopped
 * before the error is thrown.
 */
export async function up(
  dir: string,
  options: UpOptions = {},
): Promise<StackInfo> {
  const log = options.log ?? ((line: string) => console.error(line));
  const started = performance.now();
  const timings: Record<string, number> = {};
  const signal = options.signal;
  const timed = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    signal?.throwIfAborted();
    const t0 = performance.now();
    const result = await work();
    timings[name] = Math.round(performance.now() - t0);
    log(`stack: ${name} ${timings[name]} ms`);
    return result;
  };

  const programs = checkPrerequisites();
  const plan = planData(options);
  await Deno.mkdir(dir, { recursive: true });
  const layout = layoutOf(await Deno.realPath(dir));
  assertNotRunning(layout.processesJson);
  await resetLayout(layout);
  await createLayout(layout);
  const processes: StackProcess[] = [];
  const track = (process: StackProcess) => {
    processes.push(process);
    writeJsonSync(layout.processesJson, processes);
    signal?.throwIfAborted();
  };
  writeJsonSync(layout.processesJson, processes);
  const context: StackContext = { layout, programs, track };
  const [kdcPort, ldapPort, remctlPort, awsPort, webPort] = freePorts(5);
  const ports = {
    kdc: kdcPort,
    ldap: ldapPort,
    remctl: remctlPort,
    aws: awsPort,
  };

  const realmReady = timed("kerberos", async () => {
    await writeKrb5Config(layout, ports.kdc);
    const realm = await createRealm(context);
    const kdc = await startKdc(context, ports.kdc);
    return { realm, kdc };
  });
  const ccaches = {
    ldapClient: `${layout.ccaches}/wgsync-ldap.ccache`,
    remctlClient: `${layout.ccaches}/wgsync-remctl.ccache`,
  };
  const k5start = realmReady.then(({ realm }) =>
    timed("k5start", async () => {
      const [ldapClient, remctlClient] = await Promise.all([
        startK5start(context, "k5start-ldap", {
          keytab: realm.keytabs.ldapClient,
          ccache: ccaches.ldapClient,
        }),
        startK5start(context, "k5start-remctl", {
          keytab: realm.keytabs.remctlClient,
          ccache: ccaches.remctlClient,
        }),
      ]);
      return { ldapClient, remctlClient };
    })
  );
  const slapd = timed("ldap", async () => {
    const tls = await timed("tls", () => createTls(context));
    const setup = await timed(
      "slapd-config",
      () =>
        configureSlapd(context, {
          port: ports.ldap,
          tls,
          serviceKeytab: keytabsOf(layout).ldapService,
        }),
    );
    await timed("slapadd", () => loadData(setup, plan));
    await realmReady;
    const process = await startSlapd(setup, track);
    return { tls, setup, process };
  });
  const remctld = realmReady.then(({ realm }) =>
    timed("remctld", () =>
      startRemctld(context, {
        port: ports.remctl,
        hostKeytab: realm.keytabs.hostService,
        clientPrincipal: realm.principals.remctlClient,
      }))
  );
  const endpoint = `http://127.0.0.1:${ports.aws}`;
  const aws = timed("aws", async () => {
    const moto = await timed("moto", () => startMoto(context, ports.aws));
    const resources = await timed(
      "aws-provision",
      () => provisionAws(endpoint),
    );
    return { moto, resources };
  });

  const results = await Promise.allSettled([
    realmReady,
    k5start,
    slapd,
    remctld,
    aws,
  ]);
  const failures = results.filter((r) => r.status === "rejected");
  if (failures.length > 0) {
    log(`stack: up failed, stopping ${processes.length} started process(es)`);
    await stopProcesses(processes).catch((error) => log(`stack: ${error}`));
    const reason = (failures[0] as PromiseRejectedResult).reason;
    throw reason instanceof StackError
      ? reason
      : new StackError(`Cannot start the local stack in "${layout.dir}"`, {
        cause: reason,
      });
  }
  const { realm, kdc } = await realmReady;
  const k5 = await k5start;
  const ldap = await slapd;
  const remctl = await remctld;
  const { moto, resources } = await aws;

  const info: StackInfo = {
    dir: layout.dir,
    realm: REALM,
    krb5Config: layout.krb5Config,
    krb5RcacheDir: layout.rcache,
    kdc: { port: ports.kdc, pid: kdc.pid, kdcProfile: layout.kdcProfile },
    principals: realm.principals,
    keytabs: realm.keytabs,
    ccaches,
    k5start: {
      ldapClient: k5.ldapClient.pid,
      remctlClient: k5.remctlClient.pid,
    },
    ldap: {
      url: `ldap://127.0.0.1:${ports.ldap}`,
      gssapiUrl: `ldap://localhost:${ports.ldap}`,
      port: ports.ldap,
      pid: ldap.process.pid,
      suffix: SUFFIX,
      peopleBase: PEOPLE_BASE,
      workgroupBase: WORKGROUP_BASE,
      consumerDn: CONSUMER_DN,
      adminDn: ADMIN_DN,
      adminPasswordFile: ldap.setup.adminPasswordFile,
      caFile: ldap.tls.caFile,
      saslHost: "localhost",
      slapdConfigDir: ldap.setup.configDir,
      dataDir: ldap.setup.dataDir,
      logFile: ldap.setup.logFile,
      argv: ldap.setup.argv,
      env: pickEnv(ldap.setup.env),
    },
    remctl: {
      host: "localhost",
      port: ports.remctl,
      pid: remctl.process.pid,
      service: realm.principals.hostService.split("@")[0],
      command: DEMO_COMMAND.command,
      subcommand: DEMO_COMMAND.subcommand,
      callsFile: layout.callsFile,
      exitCodeFile: remctl.exitCodeFile,
      delayFile: remctl.delayFile,
      configFile: remctl.configFile,
      logFile: remctl.logFile,
    },
    aws: {
      endpoint,
      region: AWS_SETTINGS.region,
      accessKeyId: AWS_SETTINGS.accessKeyId,
      secretAccessKey: AWS_SETTINGS.secretAccessKey,
      pid: moto.process.pid,
      port: ports.aws,
      ...resources,
      logFile: moto.logFile,
    },
    config: layout.configToml,
    data: plan.summary,
    processes,
    timings,
  };
  try {
    await timed("config", () => writeConfig(info, { webPort }));
    await timed("keytabs", () => writeEncryptedKeytabs(info));
  } catch (error) {
    await stopProcesses(processes).catch((e) => log(`stack: ${e}`));
    throw error;
  }
  timings.total = Math.round(performance.now() - started);
  log(`stack: up in ${timings.total} ms (${layout.dir})`);
  await writeStackInfo(info);
  return info;
}

/**
 * Stops every process `up` started in `dir` (from `dir/processes.json`, never
 * by name) and waits until they have exited. Safe to run twice; returns how
 * many processes were still running.
 */
export async function down(dir: string): Promise<number> {
  const processes = readProcesses(`${dir}/processes.json`);
  const running = processes.filter(isRunning);
  await stopProcesses(processes);
  return running.length;
}

/**
 * Stops slapd and starts it again with the same config and data; updates
 * `info` (ldap.pid, processes) and `stack.json` in place. Resolves once slapd
 * accepts connections again.
 */
export async function restartSlapd(info: StackInfo): Promise<void> {
  await stopSlapdOf(info);
  await startSlapdOf(info);
}

/** Stops slapd (keeping its config and data) and waits until it has exited. */
export async function stopSlapdOf(info: StackInfo): Promise<void> {
  const process = info.processes.find((p) =>
    p.name === "slapd" && p.pid === info.ldap.pid
  );
  if (process === undefined) {
    throw new StackError(
      `Cannot stop slapd: pid ${info.ldap.pid} is not in the stack's processes`,
    );
  }
  await stopSlapd(process);
}

/** Starts slapd again after {@linkcode stopSlapdOf}; updates `info` and `stack.json`. */
export async function startSlapdOf(info: StackInfo): Promise<void> {
  const layout = layoutOf(info.dir);
  const process = await startSlapd({
    port: info.ldap.port,
    argv: info.ldap.argv,
    env: { ...Deno.env.toObject(), ...info.ldap.env },
    logFile: info.ldap.logFile,
  }, (p) => {
    info.processes = [...info.processes.filter((q) => q.name !== "slapd"), p];
    writeJsonSync(layout.processesJson, info.processes);
  });
  info.ldap.pid = process.pid;
  await writeStackInfo(info);
}

/** Which k5start daemon: the LDAP consumer's or the remctl generator's. */
export type K5startClient = "ldapClient" | "remctlClient";

const K5START_NAMES: Record<K5startClient, string> = {
  ldapClient: "k5start-ldap",
  remctlClient: "k5start-remctl",
};

/** Stops one k5start daemon (its ticket cache stays as it is) and waits until it has exited. */
export async function stopK5startOf(
  info: StackInfo,
  client: K5startClient,
): Promise<void> {
  const name = K5START_NAMES[client];
  const process = info.processes.find((p) =>
    p.name === name && p.pid === info.k5start[client]
  );
  if (process === undefined) {
    throw new StackError(
      `Cannot stop ${name}: pid ${
        info.k5start[client]
      } is not in the stack's processes`,
    );
  }
  await stopProcesses([process]);
}

/** Starts a k5start daemon again after {@linkcode stopK5startOf} (a fresh ticket); updates `info` and `stack.json`. */
export async function startK5startOf(
  info: StackInfo,
  client: K5startClient,
): Promise<void> {
  const layout = layoutOf(info.dir);
  const name = K5START_NAMES[client];
  const process = await startK5start(
    {
      layout,
      programs: checkPrerequisites(),
      track: (p) => {
        info.processes = [...info.processes.filter((q) => q.name !== name), p];
        writeJsonSync(layout.processesJson, info.processes);
      },
    },
    name,
    { keytab: info.keytabs[client], ccache: info.ccaches[client] },
  );
  info.k5start[client] = process.pid;
  await writeStackInfo(info);
}

/** Reads `dir/stack.json`. */
export async function readStackInfo(dir: string): Promise<StackInfo> {
  return JSON.parse(await Deno.readTextFile(`${dir}/stack.json`));
}

async function writeStackInfo(info: StackInfo): Promise<void> {
  const path = layoutOf(info.dir).stackJson;
  await Deno.writeTextFile(`${path}.tmp`, JSON.stringify(info, null, 2) + "\n");
  await Deno.rename(`${path}.tmp`, path);
}

function assertNotRunning(processesJson: string): void {
  const running = readProcesses(processesJson).filter(isRunning);
  if (running.length > 0) {
    throw new StackError(
      `Cannot start a stack in "${
        processesJson.replace(/\/processes\.json$/, "")
      }" as one runs there already (pids ${
        running.map((p) => p.pid).join(", ")
      }): run "deno task stack down DIR" first`,
    );
  }
}

function readProcesses(path: string): StackProcess[] {
  try {
    return JSON.parse(Deno.readTextFileSync(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw new StackError(
      `Cannot read the stack's processes: path is "${path}"`,
      {
        cause: error,
      },
    );
  }
}

function writeJsonSync(path: string, value: unknown): void {
  Deno.writeTextFileSync(`${path}.tmp`, JSON.stringify(value, null, 2) + "\n");
  Deno.renameSync(`${path}.tmp`, path);
}

function pickEnv(env: Record<string, string>): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith("KRB5")) picked[name] = value;
  }
  return picked;
}
