/**
 * wgsync-remctl's group lanes (lib/wgsync_remctl/group_lanes.ts), pure: a
 * group's items run one at a time in order, at most `concurrency` groups at
 * once, an item not done with abandons the rest of its group, the stop takes
 * what has not started, and a bad concurrency is a RangeError.
 */
import assert from "node:assert/strict";
import { GroupLanes } from "../lib/wgsync_remctl/group_lanes.ts";

interface Job {
  group: string;
  n: number;
}

/** Lanes whose jobs wait for `release(n)`; `fail` lists jobs that end not done. */
function lanes(concurrency: number, fail: number[] = []) {
  const started: number[] = [];
  const abandoned: number[] = [];
  const finish = new Map<number, () => void>();
  let running = 0;
  let most = 0;
  const lanes = new GroupLanes<Job>({
    concurrency,
    run: async (job) => {
      started.push(job.n);
      most = Math.max(most, ++running);
      await new Promise<void>((resolve) => finish.set(job.n, resolve));
      running--;
      return !fail.includes(job.n);
    },
    abandon: (jobs) => abandoned.push(...jobs.map((j) => j.n)),
  });
  const push = (group: string, n: number) => lanes.push(group, { group, n });
  const release = async (n: number) => {
    finish.get(n)!();
    await new Promise((resolve) => setTimeout(resolve, 0));
  };
  return { lanes, push, release, started, abandoned, most: () => most };
}

Deno.test("group lanes run a group's items in order, one at a time, groups side by side up to the bound", async () => {
  const t = lanes(2);
  t.push("a", 1);
  t.push("a", 2);
  t.push("b", 3);
  t.push("c", 4);
  assert.deepEqual(t.started, [1, 3]);
  assert.equal(t.lanes.groups, 3);
  await t.release(3);
  assert.deepEqual(t.started, [1, 3, 4]);
  await t.release(1);
  assert.deepEqual(t.started, [1, 3, 4, 2]);
  await t.release(4);
  await t.release(2);
  await t.lanes.idle();
  assert.equal(t.most(), 2);
  assert.equal(t.lanes.groups, 0);
  assert.deepEqual(t.abandoned, []);
});

Deno.test("group lanes: an item not done with abandons the rest of its group, not of others", async () => {
  const t = lanes(4, [1]);
  for (const n of [1, 2, 3]) t.push("a", n);
  t.push("b", 4);
  t.push("b", 5);
  await t.release(1);
  assert.deepEqual(t.abandoned, [2, 3]);
  await t.release(4);
  await t.release(5);
  await t.lanes.idle();
  assert.deepEqual(t.started, [1, 4, 5]);
  assert.equal(t.lanes.has("a"), false);
});

Deno.test("group lanes: takeQueued returns what has not started; the running item's group stays held until it ends", async () => {
  const t = lanes(1);
  t.push("a", 1);
  t.push("a", 2);
  t.push("b", 3);
  assert.deepEqual(t.lanes.takeQueued().map((j) => j.n), [2, 3]);
  assert.equal(t.lanes.groups, 1);
  await t.release(1);
  await t.lanes.idle();
  assert.deepEqual(t.started, [1]);
  assert.equal(t.lanes.groups, 0);
});

Deno.test("group lanes: room waits while concurrency groups are held", async () => {
  const t = lanes(1);
  t.push("a", 1);
  let roomy = false;
  const room = t.lanes.room(new AbortController().signal).then(() =>
    roomy = true
  );
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(roomy, false);
  await t.release(1);
  await room;
  assert.equal(roomy, true);
});

Deno.test("group lanes refuse a concurrency that is not a positive integer", () => {
  assert.throws(
    () =>
      new GroupLanes({
        concurrency: 0,
        run: () => Promise.resolve(true),
        abandon: () => {},
      }),
    {
      name: "RangeError",
      message:
        "Cannot create group lanes as concurrency is 0: expected a positive integer",
    },
  );
});
