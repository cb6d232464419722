/**
 * The client end of wgsync-ldap's control socket (see `protocol.ts`).
 *
 * @module
 */
import {
  ControlError,
  type ControlRequest,
  formatRequest,
  type ListedMember,
  type ListedWorkgroup,
  MAX_ANSWER_LINE_BYTES,
  MAX_MEMBERS,
} from "./protocol.ts";

/** Options for the requests. */
export interface RequestOptions {
  /** Longer than wgsync-ldap waits for a refresh to finish (10 s). @default {15_000} */
  timeoutMs?: number;
}

/** Options for {@linkcode requestSnapshot}. */
export type RequestSnapshotOptions = RequestOptions;

/** Options for {@linkcode requestMembers}. */
export interface RequestMembersOptions extends RequestOptions {
  /** Keep at most this many members (the rest are only counted). @default {MAX_MEMBERS} */
  limit?: number;
}

/** A `members` answer. */
export interface MembersAnswer {
  /** The members read, in the store's order (at most the limit). */
  members: ListedMember[];
  /** The workgroup's number of members. */
  total: number;
}

/**
 * Asks wgsync-ldap at `socket` for a snapshot of `workgroup`; returns what
 * follows `ok` (the snapshot's event id). Throws {@linkcode ControlError}.
 */
export function requestSnapshot(
  socket: string,
  workgroup: string,
  options: RequestSnapshotOptions = {},
): Promise<string> {
  return exchange(socket, { command: "snapshot", workgroup }, {
    what: `the snapshot of "${workgroup}"`,
    timeoutMs: options.timeoutMs,
    read: async (lines) => (await lines.header()).value,
  });
}

/**
 * Asks wgsync-ldap at `socket` for the current members of `workgroup`;
 * undefined when its store has no such workgroup. Throws {@linkcode ControlError}.
 */
export function requestMembers(
  socket: string,
  workgroup: string,
  options: RequestMembersOptions = {},
): Promise<MembersAnswer | undefined> {
  const limit = options.limit ?? MAX_MEMBERS;
  if (!Number.isInteger(limit) || limit < 0) {
    throw new RangeError(
      `Cannot ask for members as the limit is not a whole number ≥ 0: limit is ${limit}`,
    );
  }
  return exchange(socket, { command: "members", workgroup }, {
    what: `the members of "${workgroup}"`,
    timeoutMs: options.timeoutMs,
    read: async (lines) => {
      const header = await lines.header();
      if (header.none) return undefined;
      const total = count(header.value, MAX_MEMBERS);
      const members: ListedMember[] = [];
      while (members.length < Math.min(limit, total)) {
        members.push(await lines.json<ListedMember>());
      }
      return { members, total };
    },
  });
}

/**
 * Asks wgsync-ldap at `socket` for the valid workgroups whose name contains
 * `query` (case-insensitive), by name, at most MAX_LISTED_WORKGROUPS.
 */
export function requestWorkgroups(
  socket: string,
  query: string,
  options: RequestOptions = {},
): Promise<ListedWorkgroup[]> {
  return exchange(socket, { command: "workgroups", query }, {
    what: `the workgroups matching "${query}"`,
    timeoutMs: options.timeoutMs,
    read: async (lines) => {
      const total = count((await lines.header()).value, MAX_MEMBERS);
      const workgroups: ListedWorkgroup[] = [];
      while (workgroups.length < total) {
        workgroups.push(await lines.json<ListedWorkgroup>());
      }
      return workgroups;
    },
  });
}

function count(value: string, max: number): number {
  const n = /^\d{1,7}$/.test(value) ? Number(value) : NaN;
  if (!(n <= max)) {
    throw new ControlError(
      `Cannot read wgsync-ldap's answer as its count is not a number up to ${max}: count is ${
        JSON.stringify(value.slice(0, 40))
      }`,
    );
  }
  return n;
}

async function exchange<T>(
  socket: string,
  request: ControlRequest,
  options: {
    what: string;
    timeoutMs?: number;
    read: (lines: AnswerLines) => Promise<T>;
  },
): Promise<T> {
  const line = formatRequest(request);
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
    await conn.write(new TextEncoder().encode(line));
    return await options.read(new AnswerLines(conn, options.what));
  } catch (error) {
    if (error instanceof ControlError) throw error;
    throw new ControlError(
      `Cannot ask wgsync-ldap for ${options.what} over "${socket}"`,
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

/** Reads an answer's lines, each at most MAX_ANSWER_LINE_BYTES. */
class AnswerLines {
  #conn: Deno.UnixConn;
  #what: string;
  #buffer = new Uint8Array(MAX_ANSWER_LINE_BYTES + 1);
  #start = 0;
  #end = 0;
  #ended = false;
  #decoder = new TextDecoder("utf-8", { fatal: true });

  constructor(conn: Deno.UnixConn, what: string) {
    this.#conn = conn;
    this.#what = what;
  }

  /** The `ok`/`none` line's value; an `error` answer throws its reason. */
  async header(): Promise<{ none: boolean; value: string }> {
    const line = await this.#line();
    const [word, ...rest] = line.split(" ");
    const value = rest.join(" ");
    if (word === "ok") return { none: false, value };
    if (word === "none") return { none: true, value };
    throw new ControlError(
      `wgsync-ldap refused ${this.#what}: ${
        line.replace(/^error\s*/, "") || "no answer"
      }`,
    );
  }

  /** The next line as JSON. */
  async json<T>(): Promise<T> {
    const line = await this.#line();
    if (this.#ended) {
      throw new ControlError(
        `Cannot read wgsync-ldap's answer with ${this.#what} as it ended before the lines it announced`,
      );
    }
    try {
      return JSON.parse(line) as T;
    } catch (error) {
      throw new ControlError(
        `Cannot read wgsync-ldap's answer with ${this.#what} as a line is not JSON`,
        { cause: error },
      );
    }
  }

  async #line(): Promise<string> {
    for (;;) {
      const end = this.#buffer.subarray(this.#start, this.#end).indexOf(10);
      if (end >= 0) {
        const bytes = this.#buffer.subarray(this.#start, this.#start + end);
        this.#start += end + 1;
        return this.#decoder.decode(bytes);
      }
      if (this.#start > 0) {
        this.#buffer.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      if (this.#end === this.#buffer.length) {
        throw new ControlError(
          `Cannot read wgsync-ldap's answer with ${this.#what} as a line is longer than ${MAX_ANSWER_LINE_BYTES} bytes`,
        );
      }
      const n = await this.#conn.read(this.#buffer.subarray(this.#end));
      if (n === null) {
        this.#ended = true;
        if (this.#end === 0) return "";
        throw new ControlError(
          `Cannot read wgsync-ldap's answer with ${this.#what} as it ended inside a line`,
        );
      }
      this.#end += n;
    }
  }
}
