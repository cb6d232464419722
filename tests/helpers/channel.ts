/**
 * Helpers for the channel tests: key files and temporary directories. Both
 * ends of the channel are ours, so the tests run them for real over a Unix
 * socket in a temporary directory.
 *
 * @module
 */

import type { IncomingEvent } from "../../lib/channel/mod.ts";

/** Writes a random hex key file with `mode` and returns its path and text. */
export async function writeKey(
  dir: string,
  name = "auth.key",
  mode = 0o600,
): Promise<{ path: string; text: string }> {
  const path = `${dir}/${name}`;
  const text = Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
  await Deno.writeTextFile(path, `${text}\n`, { mode });
  await Deno.chmod(path, mode);
  return { path, text };
}

/** Runs `fn` in a fresh temporary directory, removed afterwards. */
export async function withDir(
  fn: (dir: string) => Promise<void> | void,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Waits until `condition` holds, polling; fails after `timeoutMs`. */
export async function until(
  condition: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** An event body for tests. */
export function body(workgroup: string, seq: number): string {
  return JSON.stringify({ v: 1, type: "member.added", workgroup, seq });
}

/** An event to submit. */
export function event(
  workgroup: string,
  seq: number,
): { id: string; workgroup: string; body: string } {
  return { id: `${workgroup}#${seq}`, workgroup, body: body(workgroup, seq) };
}

/** The seq of a received event. */
export function seqOf(event: IncomingEvent): number {
  return (event.body as { seq: number }).seq;
}

/** Awaits `promise`, failing after `timeoutMs` (so a broken delivery fails instead of hanging). */
export async function within<T>(
  promise: Promise<T>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
