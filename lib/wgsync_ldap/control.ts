/**
 * wgsync-ldap's control socket (`[ldap].control_socket`): a local Unix
 * stream socket, mode 0660 (its group is the directory's: a setgid
 * directory owned by the control group, see README), answering the
 * protocol of `lib/control/` — `snapshot WORKGROUP` writes a
 * `workgroup.snapshot` of the workgroup from the store into the outbox, the
 * normal path downstream, so one workgroup can be reconciled without a
 * rebuild (wgsync-web's resync button, `wgsync-ldap snapshot WORKGROUP`, a
 * redrive of its dead letters). `members WORKGROUP` and `workgroups [QUERY]`
 * are read-only listings from the store (`listing.ts`), streamed; they are
 * how wgsync-web shows workgroups without reading the 0600 store itself.
 *
 * The snapshot's id: the event id's facts are the workgroup's entryUUID and
 * entryCSN as for every snapshot, with the request's time added to the name
 * key, so an on-demand snapshot of an unchanged workgroup is not dropped as a
 * duplicate of the last one (by SNS FIFO's de-duplication or downstream).
 * Only the consumer that was asked emits it.
 *
 * The snapshot is written between sync messages: never into a batch a
 * refresh has open, and not while a workgroup refresh is being applied (the
 * request waits for it, up to `BUSY_WAIT_MS`).
 *
 * @module
 */
import {
  ControlError,
  MAX_REQUEST_BYTES,
  parseRequest,
  UnknownWorkgroupError,
} from "../control/mod.ts";
import { eventId } from "../events/mod.ts";
import { getLogger } from "../log/mod.ts";
import type { MemberDirectory } from "./member.ts";
import type { Store } from "./store/mod.ts";
import { EventWriter } from "./workgroup_events.ts";
import { findWorkgroup, type Listing, untilIdle } from "./listing.ts";
/** How long a client may take to send its request line. */
const REQUEST_TIMEOUT_MS = 5_000;

const log = getLogger("ldap");

/** Writes on-demand snapshots into the store's outbox. */
export class Resync {
  #store: Store;
  #writer: EventWriter;
  #busy: () => boolean;

  /**
   * Snapshots from `store`, resolving members with the consumer's
   * `members`; waits while `busy()` (a workgroup refresh is applied).
   */
  constructor(store: Store, members: MemberDirectory, busy: () => boolean) {
    this.#store = store;
    this.#writer = new EventWriter(store, members);
    this.#busy = busy;
  }

  /** Commits a `workgroup.snapshot` of `name` to the outbox; returns its id. */
  async snapshot(name: string, signal?: AbortSignal): Promise<string> {
    await untilIdle(this.#store, this.#busy, `snapshot "${name}"`, signal);
    const row = findWorkgroup(this.#store, name);
    if (row === undefined) {
      throw new ControlError(
        `Cannot snapshot "${name}" as the store has no such workgroup`,
      );
    }
    const writer = this.#writer;
    const observedAt = writer.now();
    const key = `${row.name}\0resync\0${observedAt}`;
    this.#store.stage();
    try {
      const seq = writer.emit(row.entryUUID, "workgroup.snapshot", row.name, {
        csn: row.csn,
        observedAt,
        seq: writer.nextSeq(row.seq),
        payload: {
          members: writer.resolveAll(JSON.parse(row.members) as string[]),
        },
        facts: { key },
      });
      this.#store.setWorkgroupSeq(row.entryUUID, seq);
      this.#store.commit();
    } catch (error) {
      this.#store.rollback();
      throw error;
    }
    return eventId({
      entryUUID: row.entryUUID,
      csn: row.csn,
      type: "workgroup.snapshot",
      key,
    });
  }
}

/** The listening control socket. */
export class ControlServer {
  #listener: Deno.UnixListener;
  #path: string;
  #resync: Resync;
  #listing: Listing;
  #connections = new Set<Deno.UnixConn>();
  #loop: Promise<void>;
  #closing = new AbortController();

  private constructor(
    listener: Deno.UnixListener,
    path: string,
    answers: { resync: Resync; listing: Listing },
  ) {
    this.#listener = listener;
    this.#path = path;
    this.#resync = answers.resync;
    this.#listing = answers.listing;
    this.#loop = this.#accept();
  }

  /**
   * Listens on `path` (mode 0660). A stale socket file left by a crash is
   * replaced; a socket another process still answers on is an error.
   */
  static async listen(
    path: string,
    answers: { resync: Resync; listing: Listing },
  ): Promise<ControlServer> {
    try {
      const info = await Deno.lstat(path);
      if (!info.isSocket) {
        throw new ControlError(
          `Cannot listen on the control socket as the path is not a socket: path is "${path}"`,
        );
      }
      const alive = await Deno.connect({ transport: "unix", path }).then(
        (conn) => (conn.close(), true),
        () => false,
      );
      if (alive) {
        throw new ControlError(
          `Cannot listen on the control socket as another process answers on it: path is "${path}"`,
        );
      }
      await Deno.remove(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    let listener: Deno.UnixListener;
    try {
      listener = Deno.listen({ transport: "unix", path });
      await Deno.chmod(path, 0o660);
    } catch (error) {
      throw new ControlError(
        `Cannot listen on the control socket: path is "${path}"`,
        { cause: error },
      );
    }
    log.info("Control socket listening on {path}", { path });
    return new ControlServer(listener, path, answers);
  }

  /** Stops listening, ends open connections and removes the socket file. */
  async close(): Promise<void> {
    this.#closing.abort();
    try {
      this.#listener.close();
    } catch {
      // Closed already.
    }
    for (const conn of this.#connections) conn.close();
    await this.#loop;
    await Deno.remove(this.#path).catch(() => {});
  }

  async #accept(): Promise<void> {
    while (!this.#closing.signal.aborted) {
      let conn: Deno.UnixConn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return; // Closed.
      }
      this.#connections.add(conn);
      this.#serve(conn).finally(() => this.#connections.delete(conn));
    }
  }

  async #answer(line: string): Promise<Iterable<string>> {
    const request = parseRequest(line);
    const signal = this.#closing.signal;
    if (request.command === "members") {
      return await this.#listing.members(request.workgroup, signal);
    }
    if (request.command === "workgroups") {
      return await this.#listing.workgroups(request.query, signal);
    }
    const id = await this.#resync.snapshot(request.workgroup, signal);
    log.info(
      "Snapshot of {workgroup} requested on the control socket: {eventId}",
      { workgroup: request.workgroup, eventId: id },
    );
    return [`ok ${id}\n`];
  }

  async #serve(conn: Deno.UnixConn): Promise<void> {
    const timer = setTimeout(() => conn.close(), REQUEST_TIMEOUT_MS);
    let answer: Iterable<string>;
    try {
      const line = await readLine(conn);
      clearTimeout(timer);
      answer = await this.#answer(line);
    } catch (error) {
      clearTimeout(timer);
      const message = error instanceof Error ? error.message : String(error);
      log.warn("Refused a control request: {error}", { error: message });
      const word = error instanceof UnknownWorkgroupError ? "none" : "error";
      answer = [`${word} ${message.replaceAll("\n", " ")}\n`];
    }
    try {
      const encoder = new TextEncoder();
      for (const chunk of answer) await writeAll(conn, encoder.encode(chunk));
    } catch {
      // The client went away.
    } finally {
      try {
        conn.close();
      } catch {
        // Closed by the timeout.
      }
    }
  }
}

/** Writes all of `bytes` (a write may take only part of them). */
async function writeAll(conn: Deno.UnixConn, bytes: Uint8Array): Promise<void> {
  while (bytes.length > 0) bytes = bytes.subarray(await conn.write(bytes));
}

/** One request line (without its line feed), at most MAX_REQUEST_BYTES. */
async function readLine(conn: Deno.UnixConn): Promise<string> {
  const buffer = new Uint8Array(MAX_REQUEST_BYTES + 1);
  let length = 0;
  while (length <= MAX_REQUEST_BYTES) {
    const n = await conn.read(buffer.subarray(length));
    if (n === null) break;
    length += n;
    const end = buffer.subarray(0, length).indexOf(10);
    if (end >= 0) {
      try {
        return new TextDecoder("utf-8", { fatal: true }).decode(
          buffer.subarray(0, end),
        );
      } catch (error) {
        throw new ControlError("Cannot read the request as it is not UTF-8", {
          cause: error,
        });
      }
    }
  }
  throw new ControlError(
    length > MAX_REQUEST_BYTES
      ? `Cannot read the request as it is longer than ${MAX_REQUEST_BYTES} bytes`
      : "Cannot read the request as it ended before its line feed",
  );
}
