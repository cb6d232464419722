/**
 * Helpers for the wgsync-ldap tests: a configuration pointing the role at the
 * local stack (StartTLS + GSSAPI, as in production), the role run as a
 * subprocess with exactly its permissions (plus the test's directories), and
 * a real {@linkcode ChannelServer} standing where wgsync-event would be.
 *
 * @module
 */

import { stringify } from "smol-toml";
import {
  type ChannelAddress,
  ChannelServer,
  type IncomingEvent,
} from "../../lib/channel/mod.ts";
import type { WorkgroupEvent } from "../../lib/events/mod.ts";
import type { RoleName } from "../../lib/permissions.ts";
import { roleArgv, roleCommand } from "../../tasks/launch.ts";
import { writeKey } from "./channel.ts";
import { ldapUtil } from "./ldap_admin.ts";
import { signal, type StackInfo } from "./stack.ts";

const decoder = new TextDecoder();

/** What {@linkcode writeRoleConfig} wrote. */
export interface RoleFiles {
  dir: string;
  config: string;
  keyFile: string;
  socket: string;
  dataDir: string;
}

/** Options of {@linkcode writeRoleConfig}. */
export interface RoleConfigOptions {
  /** The workgroup search base. Default: the stack's workgroup base. */
  base?: string;
  /** The workgroup search filter. Default: the schema's. */
  filter?: string;
  /** Channel connections. Default 4. */
  connections?: number;
  /** The mass-deletion threshold. Default: the schema's 0.1. */
  threshold?: number;
  /** Leave out the [channel] section (for --stdout). Default false. */
  noChannel?: boolean;
  /** Use TCP on loopback (`host:port`) instead of the Unix socket. */
  tcp?: string;
}

/** Writes `dir/wgsync.toml` (and a channel key) for the role against `stack`. */
export async function writeRoleConfig(
  stack: StackInfo,
  dir: string,
  options: RoleConfigOptions = {},
): Promise<RoleFiles> {
  const { path: keyFile } = await writeKey(dir, "channel.key");
  const socket = `${dir}/event.sock`;
  const dataDir = `${dir}/data`;
  const config = `${dir}/wgsync.toml`;
  const ldap: Record<string, unknown> = {
    url: stack.ldap.url,
    start_tls: true,
    ca_file: stack.ldap.caFile,
    data_dir: dataDir,
    status_interval_seconds: 1,
    bind: {
      method: "gssapi",
      ccache: stack.ccaches.ldapClient,
      sasl_host: stack.ldap.saslHost,
    },
    workgroups: {
      base: options.base ?? stack.ldap.workgroupBase,
      ...(options.filter === undefined ? {} : { filter: options.filter }),
    },
    people: {
      base: stack.ldap.peopleBase,
      filter: "(objectClass=inetOrgPerson)",
      id_attribute: "employeeNumber",
    },
  };
  if (options.threshold !== undefined) {
    ldap.mass_delete_threshold = options.threshold;
  }
  const toml: Record<string, unknown> = {
    stop_timeout_seconds: 10,
    log: { level: "info" },
    ldap,
  };
  if (!options.noChannel) {
    toml.channel = {
      ...(options.tcp === undefined ? { socket } : { tcp: options.tcp }),
      auth_key_file: keyFile,
      connections: options.connections ?? 4,
    };
  }
  await Deno.writeTextFile(config, stringify(toml) + "\n");
  return { dir, config, keyFile, socket, dataDir };
}

/** Options of {@linkcode RoleProcess.start}. */
export interface RoleStartOptions {
  /** Extra arguments, e.g. `--stdout`. */
  args?: string[];
  /** A datagram socket path to use as NOTIFY_SOCKET. */
  notifySocket?: string;
  /** More environment variables, e.g. `WATCHDOG_USEC`. */
  env?: Record<string, string>;
  /** The role to run. Default "ldap". */
  role?: RoleName;
  /**
   * Run the role in a mount namespace of its own (`unshare -m`) with a tmpfs
   * of this many KiB over the data directory (which must exist), e.g. to
   * fill its disk; the host's mounts are untouched. Reach the tmpfs with
   * {@linkcode RoleProcess.inMountNamespace}.
   */
  dataTmpfsKiB?: number;
}

/** A role (wgsync-ldap unless `role` says otherwise) running as a subprocess with its exact permissions. */
export class RoleProcess {
  #child: Deno.ChildProcess;
  #stderr = "";
  #stdout = "";
  #done: Promise<Deno.CommandStatus>;
  #readers: Promise<void>[];
  #exited = false;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#readers = [
      this.#collect(child.stderr, (text) => this.#stderr += text),
      this.#collect(child.stdout, (text) => this.#stdout += text),
    ];
    this.#done = child.status.finally(() => this.#exited = true);
  }

  /** Starts the role on `files.config`. */
  static start(
    stack: StackInfo,
    files: Pick<RoleFiles, "dir" | "config"> & Partial<RoleFiles>,
    options: RoleStartOptions = {},
  ): RoleProcess {
    const extraWrite = [files.dir];
    if (options.notifySocket) extraWrite.push(options.notifySocket);
    const role = {
      args: ["--config", files.config, ...(options.args ?? [])],
      extraRead: [files.dir, stack.dir],
      extraWrite,
    };
    const io = {
      env: {
        KRB5_CONFIG: stack.krb5Config,
        NOTIFY_SOCKET: options.notifySocket ?? "",
        NO_COLOR: "1",
        ...options.env,
      },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    } as const;
    const dataDir = files.dataDir;
    if (options.dataTmpfsKiB !== undefined && dataDir === undefined) {
      throw new TypeError("dataTmpfsKiB needs files.dataDir");
    }
    const command = options.dataTmpfsKiB === undefined
      ? roleCommand(options.role ?? "ldap", { ...role, ...io })
      // unshare without --fork execs: the role keeps the child's PID.
      : new Deno.Command("unshare", {
        args: [
          "-m",
          "--propagation",
          "private",
          "sh",
          "-c",
          `mount -t tmpfs -o size=${options.dataTmpfsKiB}k tmpfs "$0" && exec "$@"`,
          dataDir!,
          ...roleArgv(options.role ?? "ldap", role),
        ],
        ...io,
      });
    return new RoleProcess(command.spawn());
  }

  /** Runs `sh -c script` in the role's mount namespace (see {@linkcode RoleStartOptions.dataTmpfsKiB}); returns its exit code. */
  async inMountNamespace(script: string): Promise<number> {
    const { code } = await new Deno.Command("nsenter", {
      args: ["-t", String(this.pid), "-m", "sh", "-c", script],
      stdout: "null",
      stderr: "null",
    }).output();
    return code;
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Everything the role logged so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Every complete line the role printed on stdout so far. */
  get lines(): string[] {
    return this.#stdout.split("\n").filter((line) => line !== "");
  }

  /** Waits until the log matches `pattern`; fails after `timeoutMs` with the log. */
  async waitForLog(pattern: RegExp, timeoutMs = 20_000): Promise<void> {
    await until(
      () => pattern.test(this.#stderr),
      () => `${pattern} in the role's log:\n${this.#stderr}`,
      timeoutMs,
    );
  }

  /** SIGTERM, then waits for the exit; returns the exit code. */
  async stop(): Promise<number> {
    if (!this.#exited) signal(this.#child.pid, "SIGTERM");
    return await this.wait();
  }

  /** SIGKILL (unless it exited already), then waits for the exit. */
  async kill(): Promise<void> {
    if (!this.#exited) signal(this.#child.pid, "SIGKILL");
    await this.wait();
  }

  /** Waits for the exit; returns the exit code. */
  async wait(): Promise<number> {
    const status = await this.#done;
    await Promise.all(this.#readers);
    return status.code;
  }

  async #collect(
    stream: ReadableStream<Uint8Array>,
    add: (text: string) => void,
  ): Promise<void> {
    for await (const chunk of stream) add(decoder.decode(chunk));
  }
}

/** A real channel server standing where wgsync-event would be; it records every event it acknowledges. */
export class Receiver {
  #server: ChannelServer;
  /** Every event received (and acknowledged), in arrival order, re-sends included. */
  readonly events: WorkgroupEvent[];

  private constructor(server: ChannelServer, events: WorkgroupEvent[]) {
    this.#server = server;
    this.events = events;
  }

  /** Listens on the Unix socket `socket` (or a `ChannelAddress`) with the key in `keyFile`. */
  static async listen(
    socket: string | ChannelAddress,
    keyFile: string,
  ): Promise<Receiver> {
    const events: WorkgroupEvent[] = [];
    const server = await ChannelServer.listen({
      address: typeof socket === "string"
        ? { transport: "unix", path: socket }
        : socket,
      keyFile,
      handler: (event: IncomingEvent) => {
        events.push(event.body as WorkgroupEvent);
        return Promise.resolve();
      },
    });
    return new Receiver(server, events);
  }

  /** Where the server listens (with the port chosen when 0 was asked). */
  get address(): ChannelAddress {
    return this.#server.address;
  }

  /** The server's counters. */
  get stats(): ChannelServer["stats"] {
    return this.#server.stats;
  }

  /** Waits until an event satisfies `match`; returns it. */
  async waitFor(
    match: (event: WorkgroupEvent) => boolean,
    what: string,
    timeoutMs = 20_000,
  ): Promise<WorkgroupEvent> {
    await until(
      () => this.events.some(match),
      () => `${what}; received ${JSON.stringify(this.events.map(brief))}`,
      timeoutMs,
    );
    return this.events.find(match)!;
  }

  /** Waits until no event arrived for `quietMs`. */
  async settle(quietMs = 1500, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let count = -1;
    while (count !== this.events.length) {
      if (Date.now() > deadline) throw new Error("events kept arriving");
      count = this.events.length;
      await new Promise((resolve) => setTimeout(resolve, quietMs));
    }
  }

  /** Stops listening. */
  async close(): Promise<void> {
    await this.#server.close();
  }
}

/** A short form of an event for failure messages. */
export function brief(event: WorkgroupEvent): string {
  return `${event.type} ${event.workgroup}${
    event.member ? ` ${event.member.dn}` : ""
  }`;
}

/** Polls `condition` every 20 ms; fails after `timeoutMs` naming `what` (text, or a function giving it then). */
export async function until(
  condition: () => boolean,
  what: string | (() => string),
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${
          typeof what === "string" ? what : what()
        }`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The memberships (name → member DNs, lower-cased) under `base`, read with ldapsearch. */
export async function directoryMemberships(
  stack: StackInfo,
  base: string,
): Promise<Map<string, Set<string>>> {
  const out = await ldapUtil(stack, "ldapsearch", "", [
    "-LLL",
    "-o",
    "ldif-wrap=no",
    "-b",
    base,
    "(objectClass=groupOfNames)",
    "cn",
    "member",
  ]);
  const groups = new Map<string, Set<string>>();
  for (const block of out.split(/\n\n+/)) {
    const cn = /^cn: (.+)$/m.exec(block)?.[1];
    if (cn === undefined) continue;
    const members = [...block.matchAll(/^member: (.+)$/gm)].map((m) =>
      m[1].toLowerCase()
    );
    groups.set(cn, new Set(members));
  }
  return groups;
}

/** Runs `fn` in a fresh temporary directory, removed afterwards. */
export async function withTempDir(
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-ldap-role-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A predicate: true for a log text that has `line` as one of its lines. */
export const hasLine = (line: string) => (message: string) =>
  message.split("\n").includes(line);

/** The stem a test's container entry stands for: the value of its `ou=` RDN. */
export function stemOf(base: string): string {
  return base.slice("ou=".length, base.indexOf(","));
}
