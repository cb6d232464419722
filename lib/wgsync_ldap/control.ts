/**
 * wgsync-ldap's control socket (`[ldap].control_socket`): a local Unix
 * stream socket, mode 0660 (its group is the directory's: a setgid
 * directory owned by the control group, see README), answering the
 * protocol of `lib/control/` — `snapshot WORKGROUP` writes a
 * `workgroup.snapshot` of the workgroup from the store into the outbox, the
 * normal path downstream, so one workgroup can be reconciled without a
 * rebuild (wgsync-web's resync button, `wgsync-ldap snapshot WORKGROUP`, a
 * redrive of its dead letters).
 *
 * The snapshot's id: the event id's facts are the workgroup's entryUUID and
 * entryCSN as for every snapshot, with the request's time added to the name
 * key, so an on-demand snapshot of an unchanged workgroup is not dropped as a
 * duplicate of the last one (by SNS FIFO's de-duplication or downstream).
 * Only the consumer that was asked emits it.
 *
 * The snapshot is written between sync messages: never into a batch a
 * refresh has open, and not while a workgroup refresh is being applied (the
 * request waits for it, up to {@linkcode BUSY_WAIT_MS}).
 *
 * @module
 */
import {
  ControlError,
  MAX_REQUEST_BYTES,
  parseRequest,
} from "../control/mod.ts";
import { eventId } from "../events/mod.ts";
import { getLogger } from "../log/mod.ts";
import { sleep } from "../async.ts";
import type { MemberDirectory } from "./member.ts";
import type { Store, WorkgroupRow } from "./store/mod.ts";
import { EventWriter } from "./workgroup_events.ts";

/** How long a request waits for a refresh or an open batch to finish. */
export const BUSY_WAIT_MS = 10_000;
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
    const deadline = Date.now() + BUSY_WAIT_MS;
    while (this.#busy() || this.#store.inBatch) {
      if (Date.now() > deadline || signal?.aborted) {
        throw new ControlError(
          `Cannot snapshot "${name}" now as a refresh is being applied; try again`,
        );
      }
      await sleep(20, { signal });
    }
    let row: WorkgroupRow | undefined;
    // Read to the end (no early break leaves a statement open).
    for (const candidate of this.#store.validWorkgroups()) {
      if (candidate.name === name) row = candidate;
    }
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
  #connections = new Set<Deno.UnixConn>();
  #loop: Promise<void>;
  #closing = new AbortController();

  private constructor(
    listener: Deno.UnixListener,
    path: string,
    resync: Resync,
  ) {
    this.#listener = listener;
    this.#path = path;
    this.#resync = resync;
    this.#loop = this.#accept();
  }

  /**
   * Listens on `path` (mode 0660). A stale socket file left by a crash is
   * replaced; a socket another process still answers on is an error.
   */
  static async listen(path: string, resync: Resync): Promise<ControlServer> {
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
    return new ControlServer(listener, path, resync);
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

  async #serve(conn: Deno.UnixConn): Promise<void> {
    const timer = setTimeout(() => conn.close(), REQUEST_TIMEOUT_MS);
    let answer: string;
    try {
      const line = await readLine(conn);
      clearTimeout(timer);
      const request = parseRequest(line);
      const id = await this.#resync.snapshot(
        request.workgroup,
        this.#closing.signal,
      );
      log.info(
        "Snapshot of {workgroup} requested on the control socket: {eventId}",
        {
          workgroup: request.workgroup,
          eventId: id,
        },
      );
      answer = `ok ${id}\n`;
    } catch (error) {
      clearTimeout(timer);
      const message = error instanceof Error ? error.message : String(error);
      log.warn("Refused a control request: {error}", { error: message });
      answer = `error ${message.replaceAll("\n", " ")}\n`;
    }
    try {
      await conn.write(new TextEncoder().encode(answer));
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
