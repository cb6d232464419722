/**
 * The chaos run's faults: SIGKILL of a supervised role (restarted as its
 * unit would be), moto frozen with SIGSTOP/SIGCONT by its recorded PID (an
 * AWS outage: a restarted moto would have lost every queue), slapd stopped
 * and started with the stack's own commands, and wgsync-ldap's ticket cache
 * left to expire (k5start stopped, a ticket of a few seconds put in the
 * cache, wgsync-ldap killed after it expired so it must bind again; then
 * k5start started again).
 *
 * @module
 */

import { sleep } from "../../lib/async.ts";
import {
  startK5startOf,
  startSlapdOf,
  stopK5startOf,
  stopSlapdOf,
} from "../stack/mod.ts";
import type { StackInfo } from "../stack/types.ts";
import type { SupervisedRole } from "./supervisor.ts";

/** A gate the driver passes before each batch; closed while slapd is stopped. */
export class Gate {
  #open: Promise<void> = Promise.resolve();
  #release: (() => void) | undefined;
  #inside = 0;
  #drained: (() => void) | undefined;

  /** Waits until the gate is open. */
  async pass(): Promise<void> {
    await this.#open;
  }

  /** Runs `work` inside the gate (a close waits for it). */
  async through<T>(work: () => Promise<T>): Promise<T> {
    await this.#open;
    this.#inside++;
    try {
      return await work();
    } finally {
      if (--this.#inside === 0) this.#drained?.();
    }
  }

  /** Closes the gate and waits for the work inside to finish. */
  async close(): Promise<void> {
    this.#open = new Promise((resolve) => this.#release = resolve);
    if (this.#inside > 0) {
      await new Promise<void>((resolve) => this.#drained = resolve);
    }
    this.#drained = undefined;
  }

  /** Opens the gate. */
  open(): void {
    this.#release?.();
    this.#release = undefined;
    this.#open = Promise.resolve();
  }
}

/** Freezes moto for `ms` (SIGSTOP, then SIGCONT). */
export async function freezeMoto(info: StackInfo, ms: number): Promise<void> {
  Deno.kill(info.aws.pid, "SIGSTOP");
  try {
    await sleep(ms);
  } finally {
    Deno.kill(info.aws.pid, "SIGCONT");
  }
}

/** Stops slapd for `ms` (the gate closed meanwhile), then starts it again. */
export async function stopSlapdFor(
  info: StackInfo,
  gate: Gate,
  ms: number,
): Promise<void> {
  await gate.close();
  try {
    await stopSlapdOf(info);
    await sleep(ms);
    await startSlapdOf(info);
  } finally {
    gate.open();
  }
}

/**
 * Lets wgsync-ldap's ticket cache expire: stops k5start-ldap, puts a ticket
 * of `lifetimeSeconds` in the cache with kinit, waits until it expired,
 * SIGKILLs the `ldap` roles (each restart must bind with the expired cache
 * and retry), waits `ms`, and starts k5start again.
 */
export async function expireTicket(
  info: StackInfo,
  ldapRoles: SupervisedRole[],
  options: { lifetimeSeconds: number; ms: number },
): Promise<void> {
  await stopK5startOf(info, "ldapClient");
  try {
    const kinit = await new Deno.Command("kinit", {
      args: [
        "-k",
        "-t",
        info.keytabs.ldapClient,
        "-l",
        `${options.lifetimeSeconds}s`,
        "-c",
        info.ccaches.ldapClient,
        info.principals.ldapClient,
      ],
      env: { KRB5_CONFIG: info.krb5Config },
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!kinit.success) {
      throw new Error(
        `Cannot put a short ticket in "${info.ccaches.ldapClient}": kinit exited ${kinit.code}: ${
          new TextDecoder().decode(kinit.stderr)
        }`,
      );
    }
    await sleep(options.lifetimeSeconds * 1000 + 1000);
    await Promise.all(ldapRoles.map((role) => role.kill()));
    await sleep(options.ms);
  } finally {
    await startK5startOf(info, "ldapClient");
  }
}
