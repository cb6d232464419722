/**
 * sd_notify against a real Unix datagram socket bound where systemd's
 * `NOTIFY_SOCKET` would be: what arrives is exactly what systemd would read
 * (newline-separated assignments in one datagram). systemd also checks the
 * sender's credentials (NotifyAccess=); that part needs systemd itself and is
 * not covered here.
 *
 * Needs: write in a temp dir, unix and abstract sockets (unscoped
 * --allow-net), env (to test unsetEnvironment), run (deno, for the narrow
 * permission tests).
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { Notifier } from "../lib/systemd/mod.ts";
import { DatagramListener } from "./helpers/datagram_listener.ts";

const CLIENT = fileURLToPath(
  new URL("./helpers/notify_client.ts", import.meta.url),
);

/** A listener on a fresh path socket; removes it and its directory afterwards. */
async function withListener(
  use: (listener: DatagramListener, path: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-notify-" });
  const path = `${dir}/notify`;
  const listener = new DatagramListener(path);
  try {
    await use(listener, path);
  } finally {
    await listener.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Collects what the code under test logs, through LogTape itself. */
async function captureLogs(): Promise<LogRecord[] & AsyncDisposable> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (record) => records.push(record) },
    loggers: [
      { category: ["wgsync"], sinks: ["memory"], lowestLevel: "debug" },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "error" },
    ],
  });
  return Object.assign(records, { [Symbol.asyncDispose]: () => reset() });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("every notification kind arrives as one datagram in systemd's format", async () => {
  await withListener(async (listener, path) => {
    const notifier = Notifier.fromEnv({ NOTIFY_SOCKET: path });
    assert.equal(notifier.enabled, true);
    await notifier.ready("serving 3 workgroups");
    await notifier.status("refreshing\nphase 2\r\n\0done");
    await notifier.extendTimeout(90_000_000);
    await notifier.extendTimeout(1.6);
    await notifier.watchdog();
    await notifier.stopping("stopping on SIGTERM");
    await notifier.ready();
    await notifier.stopping();
    notifier.close();
    assert.deepEqual(await listener.waitForCount(8), [
      "READY=1\nSTATUS=serving 3 workgroups",
      "STATUS=refreshing phase 2 done",
      "EXTEND_TIMEOUT_USEC=90000000",
      "EXTEND_TIMEOUT_USEC=2",
      "WATCHDOG=1",
      "STOPPING=1\nSTATUS=stopping on SIGTERM",
      "READY=1",
      "STOPPING=1",
    ]);
  });
});

Deno.test("notifications sent just before close still go out", async () => {
  await withListener(async (listener, path) => {
    const notifier = Notifier.fromEnv({ NOTIFY_SOCKET: path });
    // As a role does on SIGTERM: stopping() without waiting, then close().
    notifier.status("draining");
    notifier.stopping("stopping on SIGTERM");
    notifier.close();
    await notifier.ready("after close");
    assert.deepEqual(await listener.waitForCount(2), [
      "STATUS=draining",
      "STOPPING=1\nSTATUS=stopping on SIGTERM",
    ]);
    await sleep(50);
    assert.equal(listener.messages.length, 2, "nothing is sent after close");
  });
});

Deno.test("a long status is cut to one short line", async () => {
  await withListener(async (listener, path) => {
    const notifier = Notifier.fromEnv({ NOTIFY_SOCKET: path });
    await notifier.status("x".repeat(5000));
    notifier.close();
    const [message] = await listener.waitForCount(1);
    assert.equal(message, `STATUS=${"x".repeat(1023)}…`);
  });
});

Deno.test("extendTimeout refuses a negative or non-finite time at once", () => {
  const notifier = Notifier.fromEnv({ NOTIFY_SOCKET: "/nonexistent/notify" });
  for (const usec of [-1, NaN, Infinity]) {
    assert.throws(() => notifier.extendTimeout(usec), RangeError, String(usec));
  }
  notifier.close();
});

Deno.test("notifications sent without waiting arrive complete and in order", async () => {
  await withListener(async (listener, path) => {
    const notifier = Notifier.fromEnv({ NOTIFY_SOCKET: path });
    const sends = [];
    for (let i = 0; i < 50; i++) sends.push(notifier.status(`step ${i}`));
    await Promise.all(sends);
    notifier.close();
    const messages = await listener.waitForCount(50);
    assert.deepEqual(messages, sends.map((_, i) => `STATUS=step ${i}`));
  });
});

Deno.test("the watchdog pings every half of WATCHDOG_USEC, only while healthy, until closed", async () => {
  await withListener(async (listener, path) => {
    const notifier = Notifier.fromEnv({
      NOTIFY_SOCKET: path,
      WATCHDOG_USEC: "100000", // 100 ms: a ping every 50 ms
    });
    assert.equal(notifier.watchdogUsec, 100_000);
    let healthy = true;
    notifier.startWatchdog({ healthy: () => healthy });
    await sleep(1000);
    const pings = () =>
      listener.messages.filter((m) => m === "WATCHDOG=1").length;
    // About 21 (one at once, then every 50 ms); wide bounds for a busy machine.
    const healthyPings = pings();
    assert.ok(
      healthyPings >= 10 && healthyPings <= 30,
      `pings in 1 s: ${healthyPings}`,
    );
    assert.deepEqual(new Set(listener.messages), new Set(["WATCHDOG=1"]));

    healthy = false;
    await sleep(100); // a ping already on its way may still arrive
    const whenUnhealthy = pings();
    await sleep(500);
    assert.equal(pings(), whenUnhealthy, "no pings while unhealthy");

    healthy = true;
    await sleep(500);
    const resumed = pings() - whenUnhealthy;
    assert.ok(resumed >= 4, `pings resumed: ${resumed} in 500 ms`);

    notifier.close();
    await sleep(50);
    const atClose = pings();
    await sleep(300);
    assert.equal(pings(), atClose, "no pings after close");
  });
});

Deno.test("a throwing health check counts as unhealthy", async () => {
  await withListener(async (listener, path) => {
    const notifier = Notifier.fromEnv({
      NOTIFY_SOCKET: path,
      WATCHDOG_USEC: "20000",
    });
    notifier.startWatchdog({
      healthy: () => {
        throw new Error("check failed");
      },
    });
    await sleep(300);
    await notifier.status("still alive");
    notifier.close();
    assert.deepEqual(await listener.waitForCount(1), ["STATUS=still alive"]);
  });
});

Deno.test("the watchdog stays off when WATCHDOG_PID names another process", async () => {
  await withListener(async (listener, path) => {
    const notifier = Notifier.fromEnv({
      NOTIFY_SOCKET: path,
      WATCHDOG_USEC: "20000",
      WATCHDOG_PID: String(Deno.pid + 1),
    });
    assert.equal(notifier.watchdogUsec, undefined);
    notifier.startWatchdog();
    await sleep(300);
    await notifier.ready();
    notifier.close();
    assert.deepEqual(await listener.waitForCount(1), ["READY=1"]);
  });
});

Deno.test("the watchdog runs when WATCHDOG_PID is this process", async () => {
  await withListener(async (listener, path) => {
    const notifier = Notifier.fromEnv({
      NOTIFY_SOCKET: path,
      WATCHDOG_USEC: "20000",
      WATCHDOG_PID: String(Deno.pid),
    });
    assert.equal(notifier.watchdogUsec, 20_000);
    notifier.startWatchdog();
    const messages = await listener.waitForCount(3);
    notifier.close();
    assert.deepEqual(messages.slice(0, 3), [
      "WATCHDOG=1",
      "WATCHDOG=1",
      "WATCHDOG=1",
    ]);
  });
});

Deno.test("an invalid WATCHDOG_USEC is ignored with a warning", async () => {
  await using logs = await captureLogs();
  for (const value of ["abc", "0", "-5", "1.5", "99999999999999999999"]) {
    const notifier = Notifier.fromEnv({
      NOTIFY_SOCKET: "/nonexistent",
      WATCHDOG_USEC: value,
    });
    assert.equal(notifier.watchdogUsec, undefined, value);
    notifier.close();
  }
  assert.equal(logs.length, 5);
  assert.deepEqual(logs.map((r) => r.properties.value), [
    "abc",
    "0",
    "-5",
    "1.5",
    "99999999999999999999",
  ]);
});

Deno.test("notifications reach an abstract socket named @name", async () => {
  const name = `wgsync-notify-${crypto.randomUUID()}`;
  const listener = new DatagramListener(`\0${name}`);
  try {
    const notifier = Notifier.fromEnv({
      NOTIFY_SOCKET: `@${name}`,
      WATCHDOG_USEC: "1000000",
    });
    await notifier.ready("abstract");
    notifier.startWatchdog();
    await notifier.stopping();
    notifier.close();
    assert.deepEqual(await listener.waitForCount(3), [
      "READY=1\nSTATUS=abstract",
      "WATCHDOG=1",
      "STOPPING=1",
    ]);
  } finally {
    await listener.close();
  }
});

Deno.test({
  name: "without NOTIFY_SOCKET every call is a no-op needing no permission",
  permissions: { net: false, write: false, read: false, env: false },
  async fn() {
    for (const env of [{}, { NOTIFY_SOCKET: "" }, undefined]) {
      const notifier = Notifier.fromEnv(env);
      assert.equal(notifier.enabled, false);
      await notifier.ready("x");
      await notifier.status("x");
      await notifier.stopping("x");
      await notifier.extendTimeout(1);
      await notifier.watchdog();
      notifier.startWatchdog();
      notifier.close();
      notifier.close();
    }
  },
});

Deno.test("a missing socket never throws and is logged once per run of failures", async () => {
  await using logs = await captureLogs();
  const dir = await Deno.makeTempDir({ prefix: "wgsync-notify-" });
  const path = `${dir}/notify`;
  const notifier = Notifier.fromEnv({ NOTIFY_SOCKET: path });
  try {
    await notifier.ready();
    await notifier.status("a");
    await notifier.watchdog();
    assert.equal(logs.length, 1);
    assert.equal(logs[0].level, "warning");
    assert.equal(logs[0].properties.socket, path);
    assert.match(String(logs[0].properties.error), /No such file or directory/);

    const listener = new DatagramListener(path);
    await notifier.status("back");
    assert.deepEqual(await listener.waitForCount(1), ["STATUS=back"]);
    await listener.close();
    await Deno.remove(path);

    await notifier.status("gone again");
    await notifier.status("still gone");
    assert.equal(logs.length, 2, "a new run of failures is logged once");
  } finally {
    notifier.close();
    await Deno.remove(dir, { recursive: true });
  }
  await notifier.ready("after close");
  assert.equal(logs.length, 2, "nothing is sent or logged after close");
});

Deno.test("unsetEnvironment removes the notification variables from the process", async () => {
  const saved = Object.fromEntries(
    ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"].map((
      n,
    ) => [n, Deno.env.get(n)]),
  );
  await withListener(async (listener, path) => {
    try {
      Deno.env.set("NOTIFY_SOCKET", path);
      Deno.env.set("WATCHDOG_USEC", "5000000");
      Deno.env.set("WATCHDOG_PID", String(Deno.pid));
      const notifier = Notifier.fromEnv(undefined, { unsetEnvironment: true });
      assert.equal(Deno.env.get("NOTIFY_SOCKET"), undefined);
      assert.equal(Deno.env.get("WATCHDOG_USEC"), undefined);
      assert.equal(Deno.env.get("WATCHDOG_PID"), undefined);
      assert.equal(notifier.watchdogUsec, 5_000_000);
      await notifier.ready();
      notifier.close();
      assert.deepEqual(await listener.waitForCount(1), ["READY=1"]);
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) Deno.env.delete(name);
        else Deno.env.set(name, value);
      }
    }
  });
});

async function runClient(permissions: string[], env: Record<string, string>) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--frozen", "--cached-only", ...permissions, CLIENT],
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "",
      ...env,
    },
  }).output();
  return {
    code: output.code,
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("a process granted only the socket and the variables notifies; without them it runs on", async () => {
  await withListener(async (listener, path) => {
    const journal = `${path}.journal-absent`;
    const env = { NOTIFY_SOCKET: path, TEST_JOURNAL_SOCKET: journal };
    const envFlag =
      "--allow-env=NOTIFY_SOCKET,WATCHDOG_USEC,WATCHDOG_PID,JOURNAL_STREAM,TEST_JOURNAL_SOCKET";
    const granted = await runClient(
      [
        `--allow-write=${path},${journal}`,
        `--allow-net=unix:${path},unix:${journal}`,
        envFlag,
      ],
      env,
    );
    assert.equal(granted.code, 0, granted.stderr);
    assert.equal(granted.stderr, "");
    assert.deepEqual(await listener.waitForCount(1), [
      "READY=1\nSTATUS=client ready",
    ]);

    const denied = await runClient([
      `--allow-write=${path},${journal}`,
      `--allow-net=unix:${journal}`,
      envFlag,
    ], env);
    assert.equal(denied.code, 0, denied.stderr);
    assert.match(
      denied.stderr,
      /WARNING wgsync\.lib\.systemd: Cannot notify systemd at .*NotCapable/,
    );
    await sleep(100);
    assert.equal(
      listener.messages.length,
      1,
      "nothing arrived without --allow-net",
    );
  });
});
