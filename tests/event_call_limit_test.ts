// wgsync-event's adaptive number of SNS calls in flight (call_limit.ts),
// alone: the figures it gives for a sequence of call outcomes.

import assert from "node:assert/strict";
import { CallLimit } from "../lib/wgsync_event/call_limit.ts";

/** Feeds `n` fast accepted calls, each started now; returns the limit after each. */
function accept(limit: CallLimit, n: number, ms = 10): number[] {
  const seen: number[] = [];
  for (let i = 0; i < n; i++) {
    limit.succeeded(limit.started(), ms);
    seen.push(limit.limit);
  }
  return seen;
}

Deno.test("the call limit starts at 2 and grows by one per accepted call up to max (slow start)", () => {
  const limit = new CallLimit({ max: 6, slowCallMs: 1000 });
  assert.equal(limit.limit, 2);
  assert.deepEqual(accept(limit, 6), [3, 4, 5, 6, 6, 6]);
});

Deno.test("a throttled or timed-out call halves the limit; afterwards it grows by one per round trip", () => {
  const limit = new CallLimit({ max: 16, slowCallMs: 1000, initial: 8 });
  limit.overloaded(limit.started());
  assert.equal(limit.limit, 4);
  // Four accepted calls are one round trip at 4 in flight: one more.
  assert.deepEqual(accept(limit, 4), [4, 4, 4, 5]);
  assert.deepEqual(accept(limit, 5), [5, 5, 5, 5, 6]);
});

Deno.test("a call slower than slowCallMs counts as congestion; the limit never falls below 1", () => {
  const limit = new CallLimit({ max: 16, slowCallMs: 1000, initial: 4 });
  limit.succeeded(limit.started(), 1001);
  assert.equal(limit.limit, 2);
  limit.succeeded(limit.started(), 5000);
  assert.equal(limit.limit, 1);
  limit.overloaded(limit.started());
  assert.equal(limit.limit, 1);
  // Exactly slowCallMs is not slow.
  assert.deepEqual(accept(limit, 1, 1000), [2]);
});

Deno.test("signals from calls that started before the last decrease do not decrease it again", () => {
  const limit = new CallLimit({ max: 16, slowCallMs: 1000, initial: 16 });
  // Sixteen calls in flight when the endpoint slows down.
  const tokens = Array.from({ length: 16 }, () => limit.started());
  limit.overloaded(tokens[0]);
  assert.equal(limit.limit, 8);
  for (const token of tokens.slice(1)) limit.succeeded(token, 3000);
  limit.overloaded(tokens[1]);
  assert.equal(limit.limit, 8);
  // A call sent after the decrease that is still slow halves it again.
  limit.succeeded(limit.started(), 3000);
  assert.equal(limit.limit, 4);
});

Deno.test("bad call limit options are refused with a RangeError naming them", () => {
  assert.throws(() => new CallLimit({ max: 0, slowCallMs: 1000 }), {
    name: "RangeError",
    message:
      "Cannot limit the SNS calls in flight as max is invalid: max is 0, expected a positive integer",
  });
  assert.throws(() => new CallLimit({ max: 4, slowCallMs: 1000, initial: 5 }), {
    name: "RangeError",
    message: /initial is invalid: initial is 5, expected an integer/,
  });
  assert.throws(() => new CallLimit({ max: 4, slowCallMs: 0 }), {
    name: "RangeError",
    message: /slowCallMs is invalid/,
  });
});
