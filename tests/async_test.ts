/** lib/async.ts: sleeps, abort promises and bounded waits on real timers. */
import assert from "node:assert/strict";
import {
  abortPromise,
  sleep,
  unlessAborted,
  waitAtMost,
  yieldToEventLoop,
} from "../lib/async.ts";

Deno.test("sleep ends when its signal aborts and at once for a signal aborted already", async () => {
  const controller = new AbortController();
  const slept = sleep(60_000, { signal: controller.signal });
  controller.abort();
  // The test's op sanitizer fails if a 60 s timer were left behind.
  await slept;
  await sleep(60_000, { signal: AbortSignal.abort() });
});

Deno.test("sleep without a signal waits its time", async () => {
  let done = false;
  const slept = sleep(5).then(() => done = true);
  assert.equal(done, false);
  await slept;
  assert.equal(done, true);
});

Deno.test("abortPromise settles for a signal aborted before it was asked (the defect 10 hang)", async () => {
  const controller = new AbortController();
  controller.abort();
  const settled = await waitAtMost(abortPromise(controller.signal), 60_000);
  assert.equal(settled, true);
});

Deno.test("abortPromise settles when the signal aborts later", async () => {
  const controller = new AbortController();
  const aborted = abortPromise(controller.signal);
  controller.abort();
  await aborted;
});

Deno.test("waitAtMost tells a promise that settled from one that ran out of time, and passes on a rejection", async () => {
  assert.equal(await waitAtMost(Promise.resolve("x"), 60_000), true);
  assert.equal(await waitAtMost(new Promise(() => {}), 1), false);
  await assert.rejects(
    waitAtMost(Promise.reject(new Error("socket refused")), 60_000),
    { name: "Error", message: "socket refused" },
  );
});

Deno.test("unlessAborted passes on a value or a rejection, and resolves undefined on abort, at once for a signal aborted already", async () => {
  const controller = new AbortController();
  assert.equal(
    await unlessAborted(Promise.resolve("x"), controller.signal),
    "x",
  );
  await assert.rejects(
    unlessAborted(
      Promise.reject(new Error("socket refused")),
      controller.signal,
    ),
    { name: "Error", message: "socket refused" },
  );
  const pending = unlessAborted(new Promise(() => {}), controller.signal);
  controller.abort();
  assert.equal(await pending, undefined);
  assert.equal(
    await unlessAborted(new Promise(() => {}), AbortSignal.abort()),
    undefined,
  );
});

Deno.test("unlessAborted leaves nothing attached to a long-lived signal once its promise settled", async () => {
  const { signal } = new AbortController();
  const listeners = new Set<unknown>();
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((
    type: "abort",
    listener: () => void,
    options?: AddEventListenerOptions,
  ) => {
    listeners.add(listener);
    add(type, listener, options);
  }) as typeof signal.addEventListener;
  signal.removeEventListener = ((
    type: "abort",
    listener: () => void,
    options?: AddEventListenerOptions,
  ) => {
    listeners.delete(listener);
    remove(type, listener, options);
  }) as typeof signal.removeEventListener;
  for (let i = 0; i < 1000; i++) {
    await unlessAborted(Promise.resolve(i), signal);
    await unlessAborted(Promise.reject(new Error("x")), signal).catch(() => {});
  }
  assert.equal(listeners.size, 0);
});

Deno.test("yieldToEventLoop lets a timer that fell due during synchronous work run, and a signal handler too", async () => {
  let fired = false;
  setTimeout(() => fired = true, 1);
  const busyUntil = performance.now() + 20;
  while (performance.now() < busyUntil) {
    // Synchronous work: the timer falls due but cannot run.
  }
  assert.equal(fired, false);
  await yieldToEventLoop();
  assert.equal(fired, true);

  let signalled = false;
  const handler = () => signalled = true;
  Deno.addSignalListener("SIGUSR2", handler);
  try {
    Deno.kill(Deno.pid, "SIGUSR2");
    // Synchronous work until the kernel delivered the signal, then turns of
    // the loop until the handler ran (each turn polls signals).
    for (let turn = 0; !signalled && turn < 10_000; turn++) {
      await yieldToEventLoop();
    }
    assert.equal(signalled, true);
  } finally {
    Deno.removeSignalListener("SIGUSR2", handler);
  }
});

Deno.test("yieldToEventLoop leaves nothing that keeps the process alive", async () => {
  // The test's resource and op sanitizers fail on an open MessagePort.
  for (let i = 0; i < 100; i++) await yieldToEventLoop();
});
