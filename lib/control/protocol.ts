/**
 * wgsync-ldap's control protocol: one request line, one answer line, on a
 * local Unix stream socket (mode 0660, wgsync-ldap's control group).
 *
 * ```
 * → snapshot research-computing:sherlock-users\n
 * ← ok 3f2a…(the snapshot's event id)\n        or    ← error <reason>\n
 * ```
 *
 * `snapshot WORKGROUP` makes wgsync-ldap write a `workgroup.snapshot` of the
 * workgroup, from its store, into its outbox (the normal path to
 * wgsync-event); `ok` comes once it is committed there. Hand-written because
 * it is two lines of text; no library is needed for that.
 *
 * @module
 */

/** The longest request line accepted, in bytes. */
export const MAX_REQUEST_BYTES = 4096;

/** A request. */
export interface ControlRequest {
  command: "snapshot";
  workgroup: string;
}

/** Raised for a request or answer that is not the protocol's. */
export class ControlError extends Error {
  /** Constructs a ControlError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ControlError";
  }
}

/** The request line for `request` (with its line feed). */
export function formatRequest(request: ControlRequest): string {
  checkWorkgroup(request.workgroup);
  return `${request.command} ${request.workgroup}\n`;
}

/** Reads a request line (without its line feed); throws {@linkcode ControlError}. */
export function parseRequest(line: string): ControlRequest {
  const space = line.indexOf(" ");
  const command = space < 0 ? line : line.slice(0, space);
  if (command !== "snapshot") {
    throw new ControlError(
      `Cannot answer the request as the command is unknown: command is ${
        JSON.stringify(command.slice(0, 40))
      }, expected "snapshot WORKGROUP"`,
    );
  }
  const workgroup = space < 0 ? "" : line.slice(space + 1);
  checkWorkgroup(workgroup);
  return { command, workgroup };
}

function checkWorkgroup(workgroup: string): void {
  // deno-lint-ignore no-control-regex
  if (workgroup === "" || /[\u0000-\u001f\u007f]/.test(workgroup)) {
    throw new ControlError(
      `Cannot ask for a snapshot as the workgroup name is empty or has control characters: name is ${
        JSON.stringify(workgroup.slice(0, 200))
      }`,
    );
  }
}
