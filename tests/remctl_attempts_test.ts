/** wgsync-remctl's own count of failed command runs per message (pure). */
import assert from "node:assert/strict";
import { CommandAttempts } from "../lib/wgsync_remctl/attempts.ts";

Deno.test("CommandAttempts retries with a growing delay, then dead-letters on the last attempt, per message", () => {
  const attempts = new CommandAttempts({
    attempts: 3,
    maxRetryDelaySeconds: 4,
  });
  const first = attempts.failed("a");
  const second = attempts.failed("a");
  assert.equal(first.deadLetter, false);
  assert.equal(second.deadLetter, false);
  if (first.deadLetter || second.deadLetter) return;
  assert.deepEqual([first.attempt, second.attempt], [1, 2]);
  // 1 s and 2 s with up to half of it random, in whole seconds.
  assert.ok(first.retryDelaySeconds >= 1 && first.retryDelaySeconds <= 1);
  assert.ok(second.retryDelaySeconds >= 1 && second.retryDelaySeconds <= 2);
  assert.deepEqual(attempts.failed("b"), {
    deadLetter: false,
    attempt: 1,
    retryDelaySeconds: first.retryDelaySeconds,
  });
  assert.deepEqual(attempts.failed("a"), { deadLetter: true, attempt: 3 });
  // Not yet forgotten (the dead-letter queue refused it): at once again.
  assert.deepEqual(attempts.failed("a"), { deadLetter: true, attempt: 4 });
  attempts.forget("a");
  assert.equal(attempts.failed("a").attempt, 1);
});

Deno.test("CommandAttempts forgets a message that ran", () => {
  const attempts = new CommandAttempts({ attempts: 2 });
  assert.equal(attempts.failed("a").deadLetter, false);
  attempts.forget("a");
  assert.equal(attempts.failed("a").deadLetter, false);
  assert.deepEqual(attempts.failed("a"), { deadLetter: true, attempt: 2 });
});

Deno.test("CommandAttempts remembers a bounded number of messages, least recently failed forgotten first", () => {
  const attempts = new CommandAttempts({ attempts: 2, remembered: 2 });
  for (const id of ["a", "b", "c"]) attempts.failed(id);
  assert.equal(attempts.failed("a").deadLetter, false); // "a" was forgotten
  assert.deepEqual(attempts.failed("c"), { deadLetter: true, attempt: 2 });
});

Deno.test("CommandAttempts refuses attempts that are not a positive integer", () => {
  for (const value of [0, 1.5, -1]) {
    assert.throws(() => new CommandAttempts({ attempts: value }), {
      name: "RangeError",
      message:
        `Cannot count command attempts as attempts is ${value}: expected a positive integer`,
    });
  }
});
