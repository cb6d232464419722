/**
 * The client end of wgsync-ldap's control socket (see `protocol.ts`).
 *
 * @module
 */
import { ControlError, formatRequest } from "./protocol.ts";

/** Options for {@linkcode requestSnapshot}. */
export interface RequestSnapshotOptions {
  /** Longer than wgsync-ldap waits for a refresh to finish (10 s). @default {15_000} */
  timeoutMs?: number;
}

/**
 * Asks wgsync-ldap at `socket` for a snapshot of `workgroup`; returns what
 * follows `ok` (the snapshot's event id). Throws {@linkcode ControlError}.
 */
export async function requestSnapshot(
  socket: string,
  workgroup: string,
  options: RequestSnapshotOptions = {},
): Promise<string> {
  const request = formatRequest({ command: "snapshot", workgroup });
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: socket });
  } catch (error) {
    throw new ControlError(
      `Cannot reach wgsync-ldap's control socket: path is "${socket}"`,
      { cause: error },
    );
  }
  const timer = setTimeout(() => conn.close(), options.timeoutMs ?? 15_000);
  try {
    await conn.write(new TextEncoder().encode(request));
    let answer = "";
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(4096);
    while (!answer.includes("\n")) {
      const n = await conn.read(buffer);
      if (n === null) break;
      answer += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
    const line = answer.split("\n")[0];
    if (line.startsWith("ok")) return line.slice(2).trim();
    throw new ControlError(
      `wgsync-ldap refused the snapshot of "${workgroup}": ${
        line.replace(/^error\s*/, "") || "no answer"
      }`,
    );
  } catch (error) {
    if (error instanceof ControlError) throw error;
    throw new ControlError(
      `Cannot ask wgsync-ldap for a snapshot of "${workgroup}" over "${socket}"`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Closed by the timeout.
    }
  }
}
