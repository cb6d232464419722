/**
 * Runs the log emitter (helpers/log_emitter.ts) inside a test journald's
 * namespaces with exactly the permissions a role gets for logging, and finds
 * its entries.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Journald } from "./journald.ts";
import type { Plan } from "./log_emitter.ts";

/** The emitter script's path. */
export const EMITTER = fileURLToPath(
  new URL("./log_emitter.ts", import.meta.url),
);

/** Where journald listens for native-protocol datagrams. */
export const JOURNAL_SOCKET = "/run/systemd/journal/socket";

/** Exactly what a role gets for logging; no read permission. */
export const EMITTER_PERMISSIONS = [
  `--allow-write=${JOURNAL_SOCKET}`,
  `--allow-net=unix:${JOURNAL_SOCKET}`,
  "--allow-env=JOURNAL_STREAM",
];

/** Runs the emitter inside the journald namespace with role-like permissions. */
export async function emit(
  journald: Journald,
  plan: Plan,
  options: { wrapper?: string[]; permissions?: string[] } = {},
) {
  const result = await journald.run(options.wrapper?.[0] ?? Deno.execPath(), [
    ...(options.wrapper ? [...options.wrapper.slice(1), Deno.execPath()] : []),
    "run",
    "--frozen",
    "--cached-only",
    ...(options.permissions ?? EMITTER_PERMISSIONS),
    EMITTER,
  ], { stdin: JSON.stringify(plan) });
  assert.equal(result.code, 0, `emitter failed: ${result.stderr}`);
  return result;
}

/** A SYSLOG_IDENTIFIER no other test run uses. */
export function uniqueId(): string {
  return `wgsync-test-${crypto.randomUUID().slice(0, 8)}`;
}
