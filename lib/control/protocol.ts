/**
 * wgsync-ldap's control protocol: one request line on a local Unix stream
 * socket (mode 0660, wgsync-ldap's control group), then the answer; the
 * server closes the connection after it.
 *
 * ```
 * → snapshot research-computing:sherlock-users\n
 * ← ok 3f2a…(the snapshot's event id)\n        or    ← error <reason>\n
 *
 * → members research-computing:sherlock-users\n
 * ← ok 2\n                                      (COUNT, then COUNT lines)
 * ← {"dn":"uid=ada,ou=people,dc=example,dc=edu","id":"ada","uid":"ada"}\n
 * ← {"dn":"uid=bob,ou=people,dc=example,dc=edu","id":"bob","uid":null}\n
 *                        or    ← none <reason>\n   (no such workgroup)
 *                        or    ← error <reason>\n
 *
 * → workgroups sherlock\n                      (QUERY optional)
 * ← ok 1\n
 * ← {"name":"research-computing:sherlock-users","members":2}\n
 * ```
 *
 * `snapshot WORKGROUP` makes wgsync-ldap write a `workgroup.snapshot` of the
 * workgroup, from its store, into its outbox (the normal path to
 * wgsync-event); `ok` comes once it is committed there.
 *
 * `members WORKGROUP` (read-only) lists the workgroup's current members from
 * the store, resolved as its events carry them (`id`, `uid` from the people
 * search). `workgroups [QUERY]` (read-only) lists the valid workgroups whose
 * name contains QUERY (case-insensitive), by name, at most
 * {@linkcode MAX_LISTED_WORKGROUPS}, each with its member count.
 *
 * Listing answers are streamed: `ok COUNT` then exactly COUNT lines of one
 * JSON object each, so neither end holds the whole answer as one string. A
 * 200,000-member workgroup is about 20 MB of lines. Bounds: a line is at most
 * {@linkcode MAX_ANSWER_LINE_BYTES}, COUNT at most {@linkcode MAX_MEMBERS};
 * a client may read fewer than COUNT lines and close (the server then stops
 * writing). Hand-written because it is lines of text; no library is needed.
 *
 * @module
 */

/** The longest request line accepted, in bytes. */
export const MAX_REQUEST_BYTES = 4096;
/** The longest answer line (header or one listed JSON object), in bytes. */
export const MAX_ANSWER_LINE_BYTES = 65_536;
/** The most members one `members` answer lists. */
export const MAX_MEMBERS = 1_000_000;
/** The most workgroups one `workgroups` answer lists. */
export const MAX_LISTED_WORKGROUPS = 100;

/** A request. */
export type ControlRequest =
  | { command: "snapshot" | "members"; workgroup: string }
  | { command: "workgroups"; query: string };

/** A workgroup member as `members` lists it. */
export interface ListedMember {
  /** The member value (normally a DN). */
  dn: string;
  /** The person's unique id when known, else the DN's RDN value. */
  id: string;
  /** The account name, when the people search knows the person. */
  uid: string | null;
}

/** A workgroup as `workgroups` lists it. */
export interface ListedWorkgroup {
  name: string;
  /** Its number of members. */
  members: number;
}

/** Raised for a request or answer that is not the protocol's. */
export class ControlError extends Error {
  /** Constructs a ControlError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ControlError";
  }
}

/** Raised (and answered `none`) when the store has no such workgroup. */
export class UnknownWorkgroupError extends ControlError {
  /** Constructs an UnknownWorkgroupError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UnknownWorkgroupError";
  }
}

/** The request line for `request` (with its line feed). */
export function formatRequest(request: ControlRequest): string {
  if (request.command === "workgroups") {
    checkName(request.query, "a list of workgroups", true);
    return `workgroups ${request.query}\n`;
  }
  checkName(request.workgroup, describe(request.command), false);
  return `${request.command} ${request.workgroup}\n`;
}

/** Reads a request line (without its line feed); throws {@linkcode ControlError}. */
export function parseRequest(line: string): ControlRequest {
  const space = line.indexOf(" ");
  const command = space < 0 ? line : line.slice(0, space);
  const argument = space < 0 ? "" : line.slice(space + 1);
  if (command === "workgroups") {
    checkName(argument, "a list of workgroups", true);
    return { command, query: argument };
  }
  if (command !== "snapshot" && command !== "members") {
    throw new ControlError(
      `Cannot answer the request as the command is unknown: command is ${
        JSON.stringify(command.slice(0, 40))
      }, expected "snapshot WORKGROUP", "members WORKGROUP" or "workgroups [QUERY]"`,
    );
  }
  checkName(argument, describe(command), false);
  return { command, workgroup: argument };
}

function describe(command: "snapshot" | "members"): string {
  return command === "snapshot" ? "a snapshot" : "the members";
}

function checkName(name: string, what: string, emptyAllowed: boolean): void {
  // deno-lint-ignore no-control-regex
  if ((name === "" && !emptyAllowed) || /[\u0000-\u001f\u007f]/.test(name)) {
    const shown = JSON.stringify(name.slice(0, 200));
    throw new ControlError(
      emptyAllowed
        ? `Cannot ask for ${what} as the query has control characters: query is ${shown}`
        : `Cannot ask for ${what} as the workgroup name is empty or has control characters: name is ${shown}`,
    );
  }
}
