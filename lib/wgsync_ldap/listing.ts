/**
 * The read-only answers of the control socket (`lib/control/`'s protocol):
 * `members WORKGROUP` and `workgroups [QUERY]`, read from the store between
 * sync messages (never inside an open batch, whose rows are not committed),
 * members resolved by the consumer's {@linkcode MemberDirectory} exactly as
 * its events carry them.
 *
 * Answers are lines produced in chunks of {@linkcode CHUNK_LINES}, so a
 * 200,000-member workgroup is written as it is encoded and a client that
 * closes early stops the work.
 *
 * @module
 */
import {
  ControlError,
  type ListedWorkgroup,
  MAX_LISTED_WORKGROUPS,
  MAX_MEMBERS,
  UnknownWorkgroupError,
} from "../control/mod.ts";
import { sleep } from "../async.ts";
import type { MemberDirectory } from "./member.ts";
import type { Store, WorkgroupRow } from "./store/mod.ts";

/** How long a request waits for a refresh or an open batch to finish. */
export const BUSY_WAIT_MS = 10_000;
/** Lines encoded (and written) at a time. */
const CHUNK_LINES = 2_000;

/**
 * Waits while `busy()` or `store` has a batch open, up to
 * {@linkcode BUSY_WAIT_MS}; then throws a ControlError naming `what`.
 */
export async function untilIdle(
  store: Store,
  busy: () => boolean,
  what: string,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + BUSY_WAIT_MS;
  while (busy() || store.inBatch) {
    if (Date.now() > deadline || signal?.aborted) {
      throw new ControlError(
        `Cannot ${what} now as a refresh is being applied; try again`,
      );
    }
    await sleep(20, { signal });
  }
}

/** The valid workgroup named `name` in `store`, if any. */
export function findWorkgroup(
  store: Store,
  name: string,
): WorkgroupRow | undefined {
  let row: WorkgroupRow | undefined;
  // Read to the end (no early break leaves a statement open).
  for (const candidate of store.validWorkgroups()) {
    if (candidate.name === name) row = candidate;
  }
  return row;
}

/** Lists members and workgroups from the store. */
export class Listing {
  #store: Store;
  #members: MemberDirectory;
  #busy: () => boolean;

  /** Reads `store`, resolving members with `members`; waits while `busy()`. */
  constructor(store: Store, members: MemberDirectory, busy: () => boolean) {
    this.#store = store;
    this.#members = members;
    this.#busy = busy;
  }

  /** The answer to `members NAME`: `ok COUNT` and the member lines. */
  async members(name: string, signal?: AbortSignal): Promise<Iterable<string>> {
    await untilIdle(this.#store, this.#busy, `list "${name}"`, signal);
    const row = findWorkgroup(this.#store, name);
    if (row === undefined) {
      throw new UnknownWorkgroupError(
        `Cannot list "${name}" as the store has no such workgroup`,
      );
    }
    const values = JSON.parse(row.members) as string[];
    if (values.length > MAX_MEMBERS) {
      throw new ControlError(
        `Cannot list "${name}" as it has ${values.length} members, more than the protocol's ${MAX_MEMBERS}`,
      );
    }
    const directory = this.#members;
    return (function* () {
      yield `ok ${values.length}\n`;
      for (let i = 0; i < values.length; i += CHUNK_LINES) {
        let chunk = "";
        for (const dn of values.slice(i, i + CHUNK_LINES)) {
          chunk += JSON.stringify(directory.resolve(dn)) + "\n";
        }
        yield chunk;
      }
    })();
  }

  /** The answer to `workgroups QUERY`: `ok COUNT` and the workgroup lines. */
  async workgroups(
    query: string,
    signal?: AbortSignal,
  ): Promise<Iterable<string>> {
    await untilIdle(this.#store, this.#busy, "list workgroups", signal);
    const needle = query.toLowerCase();
    // The first MAX_LISTED_WORKGROUPS by name, kept sorted while reading.
    const found: WorkgroupRow[] = [];
    for (const row of this.#store.validWorkgroups()) {
      if (!row.name.toLowerCase().includes(needle)) continue;
      let at = found.length;
      while (at > 0 && found[at - 1].name > row.name) at--;
      if (at >= MAX_LISTED_WORKGROUPS) continue;
      found.splice(at, 0, row);
      if (found.length > MAX_LISTED_WORKGROUPS) found.pop();
    }
    const listed: ListedWorkgroup[] = found.map((row) => ({
      name: row.name,
      members: (JSON.parse(row.members) as string[]).length,
    }));
    return [
      `ok ${listed.length}\n`,
      ...listed.map((workgroup) => JSON.stringify(workgroup) + "\n"),
    ];
  }
}
