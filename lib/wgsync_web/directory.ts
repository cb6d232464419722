/**
 * Workgroup names and current members, asked of wgsync-ldap over its
 * control socket (`members WORKGROUP`, `workgroups QUERY`; `lib/control/`):
 * wgsync-ldap keeps its store 0600 as its own user, and it resolves members
 * (uid, id) exactly as its events carry them.
 *
 * @module
 */
import {
  type ListedMember,
  type ListedWorkgroup,
  requestMembers,
  requestWorkgroups,
} from "../control/mod.ts";

/** A workgroup as listed. */
export type WorkgroupSummary = ListedWorkgroup;

/** A workgroup member as wgsync-ldap's store holds it. */
export type DirectoryMember = ListedMember;

/** A workgroup's members as shown: the first `limit`, and how many there are. */
export interface DirectoryMembers {
  members: DirectoryMember[];
  total: number;
}

/** Options for {@linkcode Directory}. */
export interface DirectoryOptions {
  /** The most members a page shows (a table of 200,000 rows helps nobody). @default {5_000} */
  memberLimit?: number;
}

/** Workgroups and members from wgsync-ldap's control socket. */
export class Directory {
  #socket: string;
  #memberLimit: number;

  /** Asks wgsync-ldap at `socket`. */
  constructor(socket: string, options: DirectoryOptions = {}) {
    this.#socket = socket;
    this.#memberLimit = options.memberLimit ?? 5_000;
  }

  /** Workgroups whose name contains `query` (case-insensitive), by name. */
  workgroups(query: string): Promise<WorkgroupSummary[]> {
    return requestWorkgroups(this.#socket, query);
  }

  /** A workgroup's current members, or undefined when the store has no such workgroup. */
  members(workgroup: string): Promise<DirectoryMembers | undefined> {
    return requestMembers(this.#socket, workgroup, {
      limit: this.#memberLimit,
    });
  }
}
