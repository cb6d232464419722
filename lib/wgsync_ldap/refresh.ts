/**
 * The state of one sync search's refresh stage (RFC 4533 section 3.4):
 * entries reported present, deletions waiting for the end of the refresh and
 * the newest cookie, which is only written once the whole refresh is applied.
 *
 * @module
 */

/** Tracks the refresh stage of one sync search. */
export class RefreshState {
  #refreshing = false;
  #present: Set<string> | undefined;
  #deletions = new Set<string>();
  #cookie: Uint8Array | undefined;

  /** True between {@linkcode RefreshState.begin} and the end of the refresh. */
  get refreshing(): boolean {
    return this.#refreshing;
  }

  /** The newest cookie seen during the refresh. */
  get cookie(): Uint8Array | undefined {
    return this.#cookie;
  }

  /** The number of deletions waiting. */
  get pendingDeletions(): number {
    return this.#deletions.size;
  }

  /**
   * Starts a refresh. `trackPresent` false (the store holds no entries of
   * this search) skips remembering present entryUUIDs: nothing can vanish.
   */
  begin(trackPresent: boolean): void {
    this.#refreshing = true;
    this.#present = trackPresent ? new Set() : undefined;
    this.#deletions.clear();
    this.#cookie = undefined;
  }

  /** Remembers a cookie seen during the refresh. */
  seeCookie(cookie: Uint8Array | undefined): void {
    if (cookie !== undefined) this.#cookie = cookie;
  }

  /** Notes that an entry was reported present, added or modified. */
  present(entryUUID: string): void {
    this.#present?.add(entryUUID);
    if (this.#deletions.size > 0) this.#deletions.delete(entryUUID);
  }

  /** Notes a deletion, applied only when the refresh ends. */
  delete(entryUUID: string): void {
    this.#deletions.add(entryUUID);
    this.#present?.delete(entryUUID);
  }

  /**
   * Ends a present phase: every stored entry not reported present is deleted.
   * `stored` iterates the entryUUIDs the store holds.
   */
  endPresentPhase(stored: Iterable<string>): void {
    const present = this.#present;
    if (present !== undefined) {
      for (const uuid of stored) {
        if (!present.has(uuid)) this.#deletions.add(uuid);
      }
      present.clear();
    }
  }

  /** Ends the refresh and hands out the deletions to apply (in no particular order). */
  finish(): string[] {
    const deletions = [...this.#deletions];
    this.#refreshing = false;
    this.#present = undefined;
    this.#deletions.clear();
    return deletions;
  }

  /** Forgets the refresh (the search broke off or was refused). */
  abandon(): void {
    this.#refreshing = false;
    this.#present = undefined;
    this.#deletions.clear();
    this.#cookie = undefined;
  }
}
