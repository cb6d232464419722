/**
 * A role kept running the way its unit does (`Restart=on-failure`,
 * `RestartSec=`): started with `tasks/launch.ts`, restarted after it exits
 * unless it was asked to stop; its stdout and stderr appended to a log file.
 * The chaos run kills it with SIGKILL by the PID this supervisor started.
 *
 * @module
 */

import type { RoleName } from "../../lib/permissions.ts";
import { roleCommand, type RoleCommandOptions } from "../launch.ts";

/** Options of {@linkcode SupervisedRole}. */
export interface SupervisedOptions
  extends
    Pick<RoleCommandOptions, "args" | "extraRead" | "extraWrite" | "env"> {
  /** Where the role's output goes (appended). */
  logFile: string;
  /** Delay before a restart. @default {2000} */
  restartMs?: number;
}

/** One supervised role process. */
export class SupervisedRole {
  readonly name: string;
  #role: RoleName;
  #options: SupervisedOptions;
  #child: Deno.ChildProcess | undefined;
  #stopping = false;
  #loop: Promise<void> | undefined;
  #started = 0;
  #spawnedAt = 0;
  /** Exits that were not asked for (each followed by a restart). */
  failures = 0;
  /** Exit codes and signals of the unrequested exits, in order. */
  readonly exits: string[] = [];

  /** `name` is for logs (e.g. "ldap-1"); `role` picks `roles/<role>.ts`. */
  constructor(name: string, role: RoleName, options: SupervisedOptions) {
    this.name = name;
    this.#role = role;
    this.#options = options;
  }

  /** The running process's PID, if one runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** How long the running process has run, ms (0 when none runs). */
  get uptimeMs(): number {
    return this.#child === undefined ? 0 : performance.now() - this.#spawnedAt;
  }

  /** How many processes were started. */
  get starts(): number {
    return this.#started;
  }

  /** Starts the role and keeps it running until {@linkcode stop}. */
  start(): void {
    this.#loop ??= this.#run();
  }

  async #run(): Promise<void> {
    const log = await Deno.open(this.#options.logFile, {
      append: true,
      create: true,
    });
    try {
      while (!this.#stopping) {
        const child = roleCommand(this.#role, {
          args: this.#options.args,
          extraRead: this.#options.extraRead,
          extraWrite: this.#options.extraWrite,
          env: this.#options.env,
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        this.#child = child;
        this.#spawnedAt = performance.now();
        this.#started++;
        const output = Promise.all([
          pipe(child.stdout, log),
          pipe(child.stderr, log),
        ]);
        const status = await child.status;
        this.#child = undefined;
        await output;
        if (this.#stopping) break;
        this.failures++;
        this.exits.push(
          status.signal === null ? `exit ${status.code}` : status.signal,
        );
        await new Promise((r) =>
          setTimeout(r, this.#options.restartMs ?? 2000)
        );
      }
    } finally {
      log.close();
    }
  }

  /** SIGKILLs the running process (the supervisor restarts it); resolves when it has exited. */
  async kill(): Promise<boolean> {
    const child = this.#child;
    if (child === undefined) return false;
    try {
      child.kill("SIGKILL");
    } catch {
      return false;
    }
    await child.status;
    return true;
  }

  /**
   * SIGTERMs the process and stops supervising; SIGKILLs it when it has not
   * exited after `timeoutMs` (systemd's TimeoutStopSec). Resolves when it
   * has exited.
   */
  async stop(timeoutMs = 15_000): Promise<void> {
    this.#stopping = true;
    const child = this.#child;
    try {
      child?.kill("SIGTERM");
    } catch {
      // Exited already.
    }
    const timer = setTimeout(() => {
      try {
        child?.kill("SIGKILL");
      } catch {
        // Exited already.
      }
    }, timeoutMs);
    await this.#loop;
    clearTimeout(timer);
  }
}

async function pipe(
  stream: ReadableStream<Uint8Array>,
  file: Deno.FsFile,
): Promise<void> {
  for await (const chunk of stream) {
    let written = 0;
    while (written < chunk.length) {
      written += await file.write(chunk.subarray(written));
    }
  }
}
