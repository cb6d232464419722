/**
 * The messages a target holds, in one lane per FIFO message group: a
 * group's messages run one at a time in the order they were received, and
 * up to `concurrency` groups run at once (the groups waiting for a slot take
 * turns in the order they became ready). When a message's handling did not
 * end it (its command failed and it was released for a retry, or the stop
 * released it), the rest of its group held here is abandoned — released by
 * the caller — without running: they must not run before it.
 *
 * Hand-written: the in-order-per-key, bounded-across-keys scheduling is a
 * few lines on a Map; the libraries that bound concurrency (p-limit,
 * p-queue) know no keys, and `lib/channel`'s lanes order acknowledgements
 * of a stream, not the running of jobs.
 *
 * @module
 */

/** Options of {@linkcode GroupLanes}. */
export interface GroupLanesOptions<T> {
  /** Groups running at once. */
  concurrency: number;
  /** Handles one item; true when it is done with (the next of its group may run). */
  run(item: T): Promise<boolean>;
  /** Takes the items of a group left behind a message that was not done with, in order. */
  abandon(items: T[]): void;
}

interface Lane<T> {
  queue: T[];
  running: boolean;
}

/** In-order lanes per group with a bound on the groups running at once. */
export class GroupLanes<T> {
  #o: GroupLanesOptions<T>;
  #lanes = new Map<string, Lane<T>>();
  #ready: string[] = [];
  #running = 0;
  #changed = new Set<() => void>();
  #error: unknown;

  /** Throws a RangeError when `concurrency` is not a positive integer. */
  constructor(options: GroupLanesOptions<T>) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError(
        `Cannot create group lanes as concurrency is ${options.concurrency}: expected a positive integer`,
      );
    }
    this.#o = options;
  }

  /** Groups with an item held (queued or running). */
  get groups(): number {
    return this.#lanes.size;
  }

  /** Whether an item of `group` is held. */
  has(group: string): boolean {
    return this.#lanes.has(group);
  }

  /** The first error a `run` threw, if any (the items behind it were abandoned). */
  get error(): unknown {
    return this.#error;
  }

  /** Queues `item` behind the items of `group` held; it runs when they are done with. */
  push(group: string, item: T): void {
    let lane = this.#lanes.get(group);
    if (lane === undefined) {
      lane = { queue: [], running: false };
      this.#lanes.set(group, lane);
    }
    lane.queue.push(item);
    if (!lane.running && lane.queue.length === 1) this.#ready.push(group);
    this.#fill();
  }

  /** Removes and returns every item not started yet (lane by lane, in order). */
  takeQueued(): T[] {
    const taken: T[] = [];
    for (const [group, lane] of this.#lanes) {
      taken.push(...lane.queue.splice(0));
      if (!lane.running) this.#lanes.delete(group);
    }
    this.#ready = [];
    this.#notify();
    return taken;
  }

  /** Resolves when fewer than `concurrency` groups are held, or `signal` aborts. */
  async room(signal: AbortSignal): Promise<void> {
    while (this.#lanes.size >= this.#o.concurrency && !signal.aborted) {
      await this.#change(signal);
    }
  }

  /** Resolves when no item runs. */
  async idle(): Promise<void> {
    const never = new AbortController().signal;
    while (this.#running > 0) await this.#change(never);
  }

  #fill(): void {
    while (this.#running < this.#o.concurrency && this.#ready.length > 0) {
      const group = this.#ready.shift()!;
      const lane = this.#lanes.get(group)!;
      lane.running = true;
      this.#running++;
      void this.#start(group, lane, lane.queue.shift()!);
    }
  }

  async #start(group: string, lane: Lane<T>, item: T): Promise<void> {
    let done = false;
    try {
      done = await this.#o.run(item);
    } catch (error) {
      this.#error ??= error;
    } finally {
      this.#running--;
      lane.running = false;
      if (!done && lane.queue.length > 0) {
        this.#o.abandon(lane.queue.splice(0));
      }
      if (lane.queue.length > 0) this.#ready.push(group);
      else this.#lanes.delete(group);
      this.#fill();
      this.#notify();
    }
  }

  #change(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.#changed.delete(wake);
        signal.removeEventListener("abort", wake);
        resolve();
      };
      this.#changed.add(wake);
      signal.addEventListener("abort", wake, { once: true });
    });
  }

  #notify(): void {
    for (const wake of [...this.#changed]) wake();
  }
}
