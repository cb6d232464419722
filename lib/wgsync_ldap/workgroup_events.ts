/**
 * How the workgroup applier writes events to the outbox: the event's id from
 * directory facts ({@linkcode eventId}), its `seq`, its `observedAt` time and
 * its member list, in full or held by reference to the workgroup row.
 *
 * Sequence numbers: a workgroup's events carry consecutive `seq` values; its
 * first event (and a rename) starts at the event's outbox position, which
 * only grows, so `seq` never goes back for a workgroup name.
 *
 * @module
 */

import {
  eventId,
  type EventType,
  type Member,
  type WorkgroupEvent,
  workgroupStem,
} from "../events/mod.ts";
import type { MemberDirectory } from "./member.ts";
import type { Store, WorkgroupRow } from "./store/mod.ts";
import { memberValues } from "./workgroup_entry.ts";

/** The parts of an event that depend on its type. */
export type EventPayload = {
  member?: Member;
  members?: Member[];
  previous?: string;
};

/** Options of {@linkcode EventWriter.emit}. */
export interface EmitOptions {
  csn: string;
  observedAt: string;
  seq: number;
  payload: EventPayload;
  /** Overrides of the id's facts (see {@linkcode eventId}). */
  facts?: { csn?: string; key?: string };
  /** The members are the workgroup row's, held by reference (Store.appendMembersEvent). */
  held?: boolean;
  /** The stem of the name when the caller has it already. */
  stem?: string;
}

/** Writes one applier's events to the store's outbox. */
export class EventWriter {
  #store: Store;
  #members: MemberDirectory;
  #clockMs = 0;
  #clockText = "";
  /** Events written since the last {@linkcode EventWriter.resetCount}. */
  count = 0;

  #onEvent: ((type: EventType) => void) | undefined;

  /** Writes to `store`, resolving member DNs with `members`; `onEvent` hears of each event written. */
  constructor(
    store: Store,
    members: MemberDirectory,
    onEvent?: (type: EventType) => void,
  ) {
    this.#store = store;
    this.#members = members;
    this.#onEvent = onEvent;
  }

  /** Restarts {@linkcode EventWriter.count}. */
  resetCount(): void {
    this.count = 0;
  }

  /**
   * The seq for a workgroup's next event: one more than its last, or the
   * event's outbox position when it had none yet or takes a name (`jump`), so
   * seq never goes back for a workgroup name even across deletion,
   * re-creation and renames (positions only grow, and no seq exceeds the
   * position of its event).
   */
  nextSeq(last: number, jump = false): number {
    const position = this.#store.nextPosition;
    if (last === 0) return position;
    return jump ? Math.max(last + 1, position) : last + 1;
  }

  /** The current time in ISO 8601, formatted once per millisecond. */
  now(): string {
    const ms = Date.now();
    if (ms !== this.#clockMs) {
      this.#clockMs = ms;
      this.#clockText = new Date(ms).toISOString();
    }
    return this.#clockText;
  }

  /** Resolves member values (a set already: the server refuses matching duplicates). */
  resolveAll(values: string[]): Member[] {
    const members = this.#members;
    return values.map((value) => members.resolve(value));
  }

  /** Resolves one member value. */
  resolve(value: string): Member {
    return this.#members.resolve(value);
  }

  /** Appends an event about workgroup `entryUUID` named `name`; returns its seq. */
  emit(
    entryUUID: string,
    type: EventType,
    name: string,
    options: EmitOptions,
  ): number {
    const facts = options.facts ?? {};
    const event: WorkgroupEvent = {
      v: 1,
      id: eventId({
        entryUUID,
        csn: facts.csn ?? options.csn,
        type,
        key: facts.key ?? name,
      }),
      type,
      workgroup: name,
      stem: options.stem ?? workgroupStem(name)!,
      ...options.payload,
      csn: options.csn,
      seq: options.seq,
      observedAt: options.observedAt,
    };
    if (options.held) this.#store.appendMembersEvent(event, entryUUID);
    else this.#store.appendEvent(event);
    this.count++;
    this.#onEvent?.(type);
    return options.seq;
  }

  /**
   * Emits a snapshot of a workgroup row; returns its seq (the caller stores
   * it). `held`: the members are held by reference (the row does not change
   * after its snapshot in this batch).
   */
  snapshot(row: WorkgroupRow, observedAt: string, held: boolean): number {
    return this.emit(row.entryUUID, "workgroup.snapshot", row.name, {
      csn: row.csn,
      observedAt,
      seq: this.nextSeq(row.seq),
      payload: held ? {} : {
        members: this.resolveAll(memberValues(JSON.parse(row.members))),
      },
      held,
    });
  }
}
