/**
 * The client end of wgsync-ldap's control socket: a Unix stream socket
 * (mode 0660, wgsync-ldap's control group) taking one request line and
 * answering one line: `snapshot WORKGROUP` → `ok …` once the
 * `workgroup.snapshot` is in the outbox, or `error …`.
 *
 * @module
 */

/** Raised when wgsync-ldap did not take the request. */
export class ControlError extends Error {
  /** Constructs a ControlError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ControlError";
  }
}

/** Options for {@linkcode requestSnapshot}. */
export interface RequestSnapshotOptions {
  /** @default {10_000} */
  timeoutMs?: number;
}

/** Asks wgsync-ldap at `socket` for a snapshot of `workgroup`; returns its answer. */
export async function requestSnapshot(
  socket: string,
  workgroup: string,
  options: RequestSnapshotOptions = {},
): Promise<string> {
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(workgroup) || workgroup === "") {
    throw new ControlError(
      `Cannot ask for a snapshot as the workgroup name is empty or has control characters: name is ${
        JSON.stringify(workgroup)
      }`,
    );
  }
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: socket });
  } catch (error) {
    throw new ControlError(
      `Cannot reach wgsync-ldap's control socket: path is "${socket}"`,
      { cause: error },
    );
  }
  const timer = setTimeout(() => conn.close(), options.timeoutMs ?? 10_000);
  try {
    await conn.write(new TextEncoder().encode(`snapshot ${workgroup}\n`));
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
