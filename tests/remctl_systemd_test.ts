/**
 * wgsync-remctl as systemd and an operator see it, on the real stack:
 * READY=1 only once every target's queue answered and the ticket cache holds
 * a valid TGT, STATUS= per target, the watchdog, STOPPING=1 and exit 0 on
 * SIGTERM, `/metrics` and `/healthz`, and `--check-config` (exit 78).
 */
import assert from "node:assert/strict";
import { roleCommand } from "../tasks/launch.ts";
import { DatagramListener } from "./helpers/datagram_listener.ts";
import { RoleProcess, until, withTempDir } from "./helpers/ldap_role.ts";
import {
  awsClients,
  createQueue,
  publishEvents,
  testEvent,
  waitForCalls,
  writeRemctlConfig,
} from "./helpers/remctl_role.ts";
import { getStack, signal } from "./helpers/stack.ts";

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

Deno.test("READY=1 waits for every queue and a valid ticket cache; STATUS= per target, watchdog, metrics, healthz, STOPPING=1", async () => {
  const stack = await getStack();
  const clients = awsClients(stack);
  const ready = await createQueue(stack, clients);
  const lateStem = `t${crypto.randomUUID().slice(0, 8)}`;
  const late = {
    stem: lateStem,
    url: ready.url.replace(/[^/]+$/, `${lateStem}.fifo`),
    dlqUrl: "",
  };
  await withTempDir(async (dir) => {
    const port = freePort();
    const files = await writeRemctlConfig(stack, dir, [ready, late], {
      metricsListen: `127.0.0.1:${port}`,
    });
    await Deno.writeTextFile(stack.ccaches.remctlClient, ""); // k5start renews it below
    const notify = new DatagramListener(`${dir}/notify`);
    const role = RoleProcess.start(stack, files, {
      role: "remctl",
      notifySocket: `${dir}/notify`,
      env: { WATCHDOG_USEC: "400000" },
    });
    try {
      await role.waitForLog(
        new RegExp(`Target ${lateStem}: cannot read the queue`),
      );
      const status = () =>
        notify.messages.filter((m) => m.includes("STATUS=")).at(-1) ?? "";
      await until(
        () => status().includes(`${lateStem}: waiting for its queue`),
        () => `STATUS=: ${notify.messages}`,
      );
      const unready = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(unready.status, 503);
      await unready.body?.cancel();
      await createQueue(stack, clients, { stem: lateStem });
      await role.waitForLog(/Waiting for a valid ticket cache/);
      assert.equal(
        notify.messages.some((m) => m.split("\n").includes("READY=1")),
        false,
      );
      signal(stack.k5start.remctlClient, "SIGALRM");
      await until(
        () => notify.messages.some((m) => m.split("\n").includes("READY=1")),
        () => `READY=1: ${JSON.stringify(notify.messages)}\n${role.stderr}`,
      );
      const readyLine = notify.messages.find((m) =>
        m.split("\n").includes("READY=1")
      )!;
      assert.match(
        readyLine,
        new RegExp(
          `STATUS=${ready.stem}: running, done 0, failed 0, poison 0, in flight 0, oldest 0s; ${lateStem}: running`,
        ),
      );
      await until(
        () => notify.messages.some((m) => m === "WATCHDOG=1"),
        "WATCHDOG=1",
      );

      const event = testEvent(`${ready.stem}:metrics`, "member.added");
      await publishEvents(stack, clients.sns, [event]);
      await waitForCalls(stack, ready.stem, 1);
      await until(
        () => status().includes(`${ready.stem}: running, done 1`),
        () => `STATUS= done 1: ${status()}`,
        15_000,
      );
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`))
        .text();
      assert.match(
        metrics,
        new RegExp(
          `wgsync_remctl_runs_total\\{target="${ready.stem}",result="ok"\\} 1`,
        ),
      );
      assert.match(
        metrics,
        new RegExp(`wgsync_remctl_target_paused\\{target="${lateStem}"\\} 0`),
      );
      assert.match(
        metrics,
        new RegExp(
          `wgsync_remctl_command_seconds_count\\{target="${ready.stem}"\\} 1`,
        ),
      );
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(health.status, 200);
      const body = await health.json();
      assert.deepEqual(
        body.detail.targets.map((
          t: { name: string; done: number },
        ) => [t.name, t.done]),
        [
          [ready.stem, 1],
          [lateStem, 0],
        ],
      );
      assert.equal(body.detail.ticketCache, "valid");
    } finally {
      assert.equal(await role.stop(), 0, role.stderr);
      await notify.close();
    }
    assert.ok(
      notify.messages.some((m) => m.startsWith("STOPPING=1")),
      JSON.stringify(notify.messages),
    );
  });
});

Deno.test("--check-config refuses a template with {members} before the last argument (exit 78)", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const queue = {
      stem: "tcheck",
      url: "http://127.0.0.1:1/123456789012/tcheck.fifo",
      dlqUrl: "",
    };
    const files = await writeRemctlConfig(stack, dir, [queue], {
      args: ["{members}", "{id}"],
    });
    const output = await roleCommand("remctl", {
      args: ["--config", files.config, "--check-config"],
      extraRead: [dir, stack.dir],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 78);
    assert.match(
      new TextDecoder().decode(output.stderr),
      /remctl\.targets\.0\.command.*"\{members\}" must be the whole last argument/,
    );
  });
});
