/**
 * wgsync-remctl when its remctl server or its ticket cache fails, on the
 * real stack: remctld stopped (SIGSTOP to the PID the stack recorded and its
 * connection children) for 30 s dead-letters nothing and everything is
 * delivered after; a SIGTERM while paused releases the held messages; a
 * removed, emptied or expired ticket cache pauses the target until k5start
 * renews it (SIGALRM to the k5start the stack recorded), 20 times over,
 * and the process never crashes.
 */
import assert from "node:assert/strict";
import { RoleProcess, until, withTempDir } from "./helpers/ldap_role.ts";
import {
  awsClients,
  callsOf,
  createQueue,
  eventually,
  publishEvents,
  queueCounts,
  testEvent,
  waitForCalls,
  writeRemctlConfig,
} from "./helpers/remctl_role.ts";
import { getStack, signal } from "./helpers/stack.ts";

/** remctld's PID and the PIDs of its children (one per open connection). */
async function remctldProcesses(pid: number): Promise<number[]> {
  // Deno refuses to read /proc without --allow-all; cat(1) may.
  const { stdout } = await new Deno.Command("cat", {
    args: [`/proc/${pid}/task/${pid}/children`],
  }).output();
  const children = new TextDecoder().decode(stdout);
  return [
    pid,
    ...children.trim().split(/\s+/).filter((p) => p !== "").map(Number),
  ];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("remctld stopped for 30 s: nothing is dead-lettered, a SIGTERM releases the held messages, all are delivered after", async () => {
  const stack = await getStack();
  const clients = awsClients(stack);
  const queue = await createQueue(stack, clients);
  await withTempDir(async (dir) => {
    const files = await writeRemctlConfig(stack, dir, [queue], {
      timeoutSeconds: 3,
    });
    let role = RoleProcess.start(stack, files, { role: "remctl" });
    await role.waitForLog(/Ready: 1 targets/);
    // One call first, so a kept-open connection (a remctld child) exists.
    const first = testEvent(`${queue.stem}:a`, "member.added", { seq: 0 });
    await publishEvents(stack, clients.sns, [first]);
    await waitForCalls(stack, queue.stem, 1);
    const stopped = await remctldProcesses(stack.remctl.pid);
    assert.ok(
      stopped.length >= 2,
      `remctld and a connection child: ${stopped}`,
    );
    for (const pid of stopped) signal(pid, "SIGSTOP");
    const events = ["a", "b", "c"].flatMap((wg) =>
      [1, 2].map((seq) =>
        testEvent(`${queue.stem}:${wg}`, "member.added", { seq })
      )
    );
    try {
      await publishEvents(stack, clients.sns, events);
      await role.waitForLog(
        /paused, the remctl server fails \(timeout\)/,
        20_000,
      );
      await sleep(30_000);
      assert.equal((await callsOf(stack, queue.stem)).length, 1);
      assert.deepEqual(await queueCounts(clients.sqs, queue.dlqUrl), [0, 0]);
      // Paused: SIGTERM releases what the role holds (visibility 0) and exits 0.
      assert.equal(await role.stop(), 0, role.stderr);
      await eventually(
        async () => (await queueCounts(clients.sqs, queue.url))[0] >= 3,
        "released messages",
      );
    } finally {
      for (const pid of stopped) signal(pid, "SIGCONT");
    }
    role = RoleProcess.start(stack, files, { role: "remctl" });
    try {
      // At least once: a command sent to a stopped remctld child before the
      // timeout runs when it resumes, and again from SQS; downstream
      // de-duplicates by event id. Order is of first runs per workgroup.
      let firstRuns: string[] = [];
      await eventually(
        async () => {
          const calls = await callsOf(stack, queue.stem);
          firstRuns = [...new Set(calls.map((c) => c.argv[8]))];
          return firstRuns.length >= 1 + events.length;
        },
        () => `${1 + events.length} distinct calls, have ${firstRuns.length}`,
        60_000,
      );
      assert.deepEqual(
        firstRuns.slice(1).sort(),
        events.map((e) => e.id).sort(),
      );
      for (const wg of ["a", "b", "c"]) {
        const workgroup = `${queue.stem}:${wg}`;
        const ids = events.filter((e) => e.workgroup === workgroup).map((e) =>
          e.id
        );
        assert.deepEqual(firstRuns.filter((id) => ids.includes(id)), ids);
      }
      assert.deepEqual(await queueCounts(clients.sqs, queue.dlqUrl), [0, 0]);
    } finally {
      assert.equal(await role.stop(), 0, role.stderr);
    }
  });
});

Deno.test("a removed, empty or expired ticket cache pauses the target until k5start renews it, 20 times, without a crash", async () => {
  const stack = await getStack();
  const clients = awsClients(stack);
  const queue = await createQueue(stack, clients);
  const ccache = stack.ccaches.remctlClient;
  await withTempDir(async (dir) => {
    // An expired cache of the same principal, to copy over the real one.
    const expired = `${dir}/expired.ccache`;
    const kinit = await new Deno.Command("kinit", {
      args: [
        "-k",
        "-t",
        stack.keytabs.remctlClient,
        "-l",
        "1s",
        "-c",
        `FILE:${expired}`,
        stack.principals.remctlClient,
      ],
      env: { KRB5_CONFIG: stack.krb5Config },
    }).output();
    assert.equal(kinit.code, 0, new TextDecoder().decode(kinit.stderr));
    await sleep(2_000);
    const files = await writeRemctlConfig(stack, dir, [queue], {
      idleSeconds: 0.2,
      maxPauseSeconds: 1,
    });
    const role = RoleProcess.start(stack, files, { role: "remctl" });
    try {
      await role.waitForLog(/Ready: 1 targets/);
      const modes = ["removed", "empty", "expired"] as const;
      for (let round = 0; round < 20; round++) {
        const mode = modes[round % modes.length];
        await sleep(600); // the last round's connection is closed as idle
        if (mode === "removed") await Deno.remove(ccache);
        else if (mode === "empty") await Deno.writeTextFile(ccache, "");
        else await Deno.copyFile(expired, ccache);
        const event = testEvent(`${queue.stem}:cc`, "member.added", {
          seq: round,
        });
        await publishEvents(stack, clients.sns, [event]);
        await until(
          () =>
            role.stderr.split("paused, the remctl server fails (gss)").length -
                1 > round,
          () =>
            `pause ${round + 1} (${mode}) in the log:\n${
              role.stderr.slice(-2000)
            }`,
        );
        signal(stack.k5start.remctlClient, "SIGALRM");
        const calls = await waitForCalls(stack, queue.stem, round + 1);
        assert.equal(
          calls[round].argv[8],
          event.id,
          `round ${round} (${mode})`,
        );
      }
      const calls = await callsOf(stack, queue.stem);
      assert.equal(calls.length, 20);
      assert.match(role.stderr, /ticket cache holds only expired credentials/);
      assert.match(role.stderr, /ticket cache has no valid credentials/);
      assert.deepEqual(await queueCounts(clients.sqs, queue.dlqUrl), [0, 0]);
    } finally {
      assert.equal(await role.stop(), 0, role.stderr);
    }
  });
});
