/**
 * The role-level first refresh for `deno task bench:refresh`: wgsync-ldap
 * (`roles/ldap.ts`) started as a subprocess with exactly its permissions
 * (`tasks/launch.ts`) on a new data directory, as the operator sees it —
 * from the spawn of the process to `READY=1` on its `NOTIFY_SOCKET` — beside
 * ldapsearch as a whole process doing the same searches.
 *
 * The role runs with the channel, as in production: a {@linkcode ChannelServer}
 * in the benchmark's process (the real server end wgsync-event uses) listens
 * on a Unix socket and acknowledges every event. Two set-ups:
 *
 * - `operator`: the stack's own `wgsync.toml` (StartTLS, SASL GSSAPI from the
 *   k5start ticket cache, the people search before the workgroup search, log
 *   level info), only `data_dir` and `[channel]` moved into a temporary
 *   directory. Over TLS the role negotiates no SASL layer; the fair anchor is
 *   ldapsearch with StartTLS, GSSAPI and `-O maxssf=0` (people, then
 *   workgroups, two processes); ldapsearch's default (a GSSAPI layer of SSF
 *   256 inside TLS, twice the encryption) is printed as well.
 * - `simple`: a simple bind without TLS and no people search, the set-up of
 *   the in-process store harness, so the difference between the two is what
 *   the process adds (start-up, channel, pump, logging, status).
 *
 * Measured per run: spawn → READY=1; spawn → the first log line (module
 * loading and start-up), → each refresh's completion line (read from the
 * role's stderr as it comes); spawn → the last `workgroup.created`
 * acknowledged by the server; VmHWM of the role at READY=1 and after the
 * outbox drained (`/proc/PID/status`); the store's size after a SIGTERM.
 * `bench_role_compare.ts` runs it beside those ldapsearch anchors. With
 * `bundle` the role runs as systemd runs it: the bundle `deno task compile`
 * builds, with its launcher's flags (see `roleArgv`).
 *
 * @module
 */

import { parse, stringify } from "smol-toml";
import { ChannelServer } from "../lib/channel/mod.ts";
import { roleCommand } from "./launch.ts";
import type { StackInfo } from "./stack/types.ts";

/** Which configuration the role runs with. */
export type RoleSetup = "operator" | "simple";

/** One role run. */
export interface RoleRun {
  /** Spawn → READY=1, ms. */
  readyMs: number;
  /** Spawn → first line on stderr (start-up, config, store open), ms. */
  firstLogMs: number;
  /** Spawn → "People refresh complete", ms (undefined without people). */
  peopleMs?: number;
  /** Spawn → "Workgroup refresh complete", ms. */
  workgroupsMs: number;
  /** Spawn → the last workgroup.created acknowledged, ms. */
  drainedMs: number;
  /** CPU time (user + system, all threads) of the role at READY=1, ms: less sensitive than wall time to a loaded machine. */
  cpuReadyMs: number;
  /** CPU time of the role when the last workgroup.created was acknowledged, ms. */
  cpuDrainedMs: number;
  /** VmHWM at READY=1 and after the drain, KiB. */
  hwmReadyKiB: number;
  hwmKiB: number;
  /** store.sqlite (+ -wal) after the role stopped, bytes. */
  storeBytes: number;
  /** Distinct workgroup.created events acknowledged. */
  created: number;
}

/** Options of {@linkcode roleRefresh}. */
export interface RoleRefreshOptions {
  setup: RoleSetup;
  /** Write a V8 CPU profile of the role into this directory (`--cpu-prof`). */
  cpuProfDir?: string;
  /** Give up after this long, ms. @default {300_000} */
  timeoutMs?: number;
  /** More runtime flags for the role (e.g. `--v8-flags=--trace-gc`). */
  runtimeFlags?: string[];
  /** Where the role's stdout goes: a file path, or nowhere. */
  stdoutFile?: string;
  /** Run this bundle of the role as its launcher does (see `roleArgv`), not `roles/ldap.ts`. */
  bundle?: string;
}

/** The role's configuration for `setup`, its files inside `dir`. */
async function writeConfig(
  stack: StackInfo,
  dir: string,
  setup: RoleSetup,
): Promise<{ config: string; socket: string; keyFile: string }> {
  const keyFile = `${dir}/channel.key`;
  await Deno.writeTextFile(
    keyFile,
    Array.from(
      crypto.getRandomValues(new Uint8Array(32)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("") + "\n",
    { mode: 0o600 },
  );
  const socket = `${dir}/event.sock`;
  const operator = parse(await Deno.readTextFile(stack.config)) as {
    log: unknown;
    stop_timeout_seconds: number;
    ldap: Record<string, unknown>;
  };
  const ldap: Record<string, unknown> = {
    ...operator.ldap,
    data_dir: `${dir}/data`,
  };
  if (ldap.control_socket !== undefined) {
    ldap.control_socket = `${dir}/ldap-control.sock`;
  }
  if (setup === "simple") {
    ldap.url = stack.ldap.url;
    ldap.start_tls = false;
    delete ldap.ca_file;
    delete ldap.people;
    ldap.bind = {
      method: "simple",
      dn: stack.ldap.adminDn,
      password_file: stack.ldap.adminPasswordFile,
      allow_cleartext_password: true, // The stack's slapd on loopback.
    };
  }
  const config = `${dir}/wgsync.toml`;
  await Deno.writeTextFile(
    config,
    stringify({
      stop_timeout_seconds: operator.stop_timeout_seconds,
      log: operator.log,
      ldap,
      channel: { socket, auth_key_file: keyFile },
    }) + "\n",
  );
  return { config, socket, keyFile };
}

/** VmHWM (peak RSS) of process `pid`, KiB. */
export function hwmKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(match[1]);
}

/** utime + stime of a process from /proc/PID/stat, ms (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the command name in parentheses (which may hold spaces).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function fileSize(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}

/** Resolves when `condition` holds (polled every 2 ms); rejects on `failed` or after `timeoutMs`. */
async function until(
  condition: () => boolean,
  what: () => string,
  timeoutMs: number,
  failed: Promise<never>,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what()}`);
    }
    await Promise.race([
      new Promise((resolve) => setTimeout(resolve, 2)),
      failed,
    ]);
  }
}

/** One first refresh of the role, spawn to READY=1 and on to the drained outbox. */
export async function roleRefresh(
  stack: StackInfo,
  options: RoleRefreshOptions,
): Promise<RoleRun> {
  const timeoutMs = options.timeoutMs ?? 300_000;
  const dir = await Deno.makeTempDir({ prefix: "wgsync-bench-role-" });
  const { config, socket, keyFile } = await writeConfig(
    stack,
    dir,
    options.setup,
  );
  const created = new Set<string>();
  const server = await ChannelServer.listen({
    address: { transport: "unix", path: socket },
    keyFile,
    handler: (event) => {
      if ((event.body as { type?: string }).type === "workgroup.created") {
        created.add(event.id);
      }
      return Promise.resolve();
    },
  });
  const notifyPath = `${dir}/notify.sock`;
  const notify = Deno.listenDatagram({
    transport: "unixpacket",
    path: notifyPath,
  });
  const marks: { ready?: number; hwmReady?: number; cpuReady?: number } = {};
  let pid = 0;
  let started = 0;
  const receiving = (async () => {
    const decoder = new TextDecoder();
    for (;;) {
      let data: Uint8Array;
      try {
        [data] = await notify.receive();
      } catch {
        return; // closed
      }
      if (
        marks.ready === undefined &&
        decoder.decode(data).split("\n").includes("READY=1")
      ) {
        marks.ready = performance.now() - started;
        marks.hwmReady = hwmKiB(pid);
        marks.cpuReady = cpuMs(pid);
      }
    }
  })();
  const expected = stack.data.workgroups;
  let stderr = "";
  const logMarks: { first?: number; people?: number; workgroups?: number } = {};
  let child: Deno.ChildProcess | undefined;
  try {
    const profile = options.cpuProfDir === undefined
      ? []
      : ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}`];
    started = performance.now();
    child = roleCommand("ldap", {
      args: ["--config", config],
      extraRead: [dir, stack.dir],
      extraWrite: [dir, ...(options.cpuProfDir ? [options.cpuProfDir] : [])],
      runtimeFlags: [...profile, ...(options.runtimeFlags ?? [])],
      bundle: options.bundle,
      env: {
        KRB5_CONFIG: stack.krb5Config,
        NOTIFY_SOCKET: notifyPath,
        NO_COLOR: "1",
      },
      stdin: "null",
      stdout: options.stdoutFile === undefined ? "null" : "piped",
      stderr: "piped",
    }).spawn();
    pid = child.pid;
    if (options.stdoutFile !== undefined) {
      const file = await Deno.open(options.stdoutFile, {
        write: true,
        create: true,
        truncate: true,
      });
      child.stdout.pipeTo(file.writable).catch(() => {});
    }
    const exited = child.status.then((status) => {
      throw new Error(
        `wgsync-ldap exited (code ${status.code}) before the benchmark stopped it:\n${stderr}`,
      );
    });
    exited.catch(() => {});
    const reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stderr) {
        const at = performance.now() - started;
        stderr += decoder.decode(chunk, { stream: true });
        logMarks.first ??= at;
        if (/People refresh complete/.test(stderr)) logMarks.people ??= at;
        if (/Workgroup refresh complete/.test(stderr)) {
          logMarks.workgroups ??= at;
        }
      }
    })();
    await until(
      () => marks.ready !== undefined,
      () => `READY=1 from wgsync-ldap; its log:\n${stderr}`,
      timeoutMs,
      exited,
    );
    await until(
      () => created.size >= expected,
      () => `${expected} workgroup.created events, got ${created.size}`,
      timeoutMs,
      exited,
    );
    const drainedMs = performance.now() - started;
    const cpuDrainedMs = cpuMs(pid);
    const hwm = hwmKiB(pid);
    child.kill("SIGTERM");
    const status = await child.status;
    await reading;
    if (status.code !== 0) {
      throw new Error(
        `wgsync-ldap exited ${status.code} on SIGTERM:\n${stderr}`,
      );
    }
    child = undefined;
    if (logMarks.workgroups === undefined) {
      throw new Error(`no "Workgroup refresh complete" in the log:\n${stderr}`);
    }
    return {
      readyMs: marks.ready!,
      firstLogMs: logMarks.first!,
      peopleMs: logMarks.people,
      workgroupsMs: logMarks.workgroups,
      drainedMs,
      cpuReadyMs: marks.cpuReady!,
      cpuDrainedMs,
      hwmReadyKiB: marks.hwmReady!,
      hwmKiB: hwm,
      storeBytes: fileSize(`${dir}/data/store.sqlite`) +
        fileSize(`${dir}/data/store.sqlite-wal`),
      created: created.size,
    };
  } finally {
    if (child !== undefined) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await child.status;
    }
    notify.close();
    await receiving;
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}
