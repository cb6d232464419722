/**
 * Ordered lanes: the channel server's per-key window. Items of one key
 * (the order key, e.g. an event's FIFO message group) are started in the
 * order they were added, at most `window` of them unfinished at once, and
 * finished in that order: an item whose work resolved waits until every
 * earlier item of its key finished. Different keys are independent.
 *
 * Hand-written: it is a few lines of bookkeeping around promises, with the
 * in-order completion this protocol needs, which no queue library offers
 * (p-queue and the like bound concurrency but complete in any order).
 *
 * @module
 */

/** One item of a lane. */
export interface LaneTask {
  /** Does the work; resolves true to finish the item as done (rejecting counts as false). */
  start(): Promise<boolean>;
  /** Called once per item, in order per key, after its work and every earlier item of the key; must not throw. */
  finish(ok: boolean): void;
}

interface Item {
  task: LaneTask;
  /** Undefined while the work runs or waits. */
  ok: boolean | undefined;
  finished: PromiseWithResolvers<void>;
}

interface Lane {
  /** Unfinished items, oldest first. */
  items: Item[];
  /** How many of `items` (from the front) were started. */
  started: number;
}

/** Per-key windows with in-order completion; see the module comment. */
export class OrderedLanes {
  #window: number;
  #lanes = new Map<string, Lane>();

  /** `window`: unfinished items per key (a positive integer, checked by the caller). */
  constructor(window: number) {
    this.#window = window;
  }

  /** Keys with unfinished items. */
  get keys(): number {
    return this.#lanes.size;
  }

  /** Adds `task` to `key`'s lane; the promise resolves once it finished. */
  add(key: string, task: LaneTask): Promise<void> {
    let lane = this.#lanes.get(key);
    if (lane === undefined) {
      lane = { items: [], started: 0 };
      this.#lanes.set(key, lane);
    }
    const item: Item = {
      task,
      ok: undefined,
      finished: Promise.withResolvers<void>(),
    };
    lane.items.push(item);
    this.#pump(key, lane);
    return item.finished.promise;
  }

  #pump(key: string, lane: Lane): void {
    while (
      lane.started < lane.items.length && lane.started < this.#window
    ) {
      const item = lane.items[lane.started++];
      Promise.resolve()
        .then(() => item.task.start())
        .then((ok) => ok === true, () => false)
        .then((ok) => {
          item.ok = ok;
          this.#finish(key, lane);
        });
    }
  }

  #finish(key: string, lane: Lane): void {
    while (lane.items.length > 0 && lane.items[0].ok !== undefined) {
      const item = lane.items.shift()!;
      lane.started--;
      item.task.finish(item.ok!);
      item.finished.resolve();
    }
    if (lane.items.length === 0) {
      if (this.#lanes.get(key) === lane) this.#lanes.delete(key);
      return;
    }
    this.#pump(key, lane);
  }
}
