/**
 * The local stack's life cycle: `up` from the CLI and `down` leaving no
 * process or port behind, two stacks side by side and a slapd restart, an up
 * that fails halfway.
 */

import assert from "node:assert/strict";
import type { StackInfo, StackProcess } from "../tasks/stack/types.ts";
import { startStack } from "./helpers/stack.ts";
import {
  run,
  stackTask,
  syncWorkgroups,
  whoamiGssapi,
} from "./helpers/stack_check.ts";

/** Listening TCP ports from /proc/net/tcp{,6} (read with cat: Deno wants --allow-all for /proc). */
async function listeningPorts(): Promise<Set<number>> {
  const ports = new Set<number>();
  const tables = await run(["cat", "/proc/net/tcp", "/proc/net/tcp6"]);
  for (const line of tables.stdout.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields.length > 3 && fields[3] === "0A") {
      ports.add(parseInt(fields[1].split(":")[1], 16));
    }
  }
  return ports;
}

/** Whether `pid` runs (exists and is not a zombie), from /proc/PID/stat. */
async function alive(pid: number): Promise<boolean> {
  const result = await run(["cat", `/proc/${pid}/stat`]);
  if (result.code !== 0) return false;
  const state =
    result.stdout.slice(result.stdout.lastIndexOf(")") + 2).split(" ")[0];
  return state !== "Z" && state !== "X";
}

function stackPorts(stack: StackInfo): number[] {
  return [stack.kdc.port, stack.ldap.port, stack.remctl.port, stack.aws.port];
}

Deno.test("up from the CLI prints stack.json, its processes outlive it, and down leaves no process or port behind", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-stack-cli-" });
  const task = (action: string) =>
    run([
      Deno.execPath(),
      "run",
      "--frozen",
      "--cached-only",
      "--allow-all",
      "tasks/stack.ts",
      action,
      dir,
    ], {});
  try {
    const started = await task("up");
    assert.equal(started.code, 0, started.stderr);
    const printed: StackInfo = JSON.parse(started.stdout);
    assert.deepEqual(
      printed,
      JSON.parse(await Deno.readTextFile(`${dir}/stack.json`)),
    );
    assert.match(started.stderr, /up in \d+ ms/);
    assert.ok(printed.processes.length >= 6);
    for (const process of printed.processes) {
      assert.ok(
        await alive(process.pid),
        `${process.name} (${process.pid}) died with up`,
      );
    }
    const listening = await listeningPorts();
    for (const port of stackPorts(printed)) {
      assert.ok(listening.has(port), `port ${port}`);
    }

    const again = await task("up");
    assert.notEqual(
      again.code,
      0,
      "a second up in the same DIR must be refused",
    );
    assert.match(again.stderr, /runs there already/);

    const stopped = await task("down");
    assert.equal(stopped.code, 0, stopped.stderr);
    for (const process of printed.processes) {
      assert.ok(
        !(await alive(process.pid)),
        `${process.name} (${process.pid}) still runs`,
      );
    }
    const after = await listeningPorts();
    for (const port of stackPorts(printed)) {
      assert.ok(!after.has(port), `port ${port} still listens`);
    }
    const twice = await task("down");
    assert.equal(twice.code, 0, twice.stderr);
    assert.match(twice.stderr, /stopped 0 process/);

    const restarted = await task("up");
    assert.equal(restarted.code, 0, "up again in the same DIR after down");
    const info: StackInfo = JSON.parse(restarted.stdout);
    assert.equal((await whoamiGssapi(info)).code, 0);
    assert.equal((await task("down")).code, 0);
  } finally {
    await task("down");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two stacks run side by side, one with generated data, and slapd restarts with its data", async () => {
  const [a, b] = await Promise.all([
    startStack(),
    startStack({ groups: 120, members: 7, people: 40 }),
  ]);
  try {
    const portsA = stackPorts(a.info);
    const portsB = stackPorts(b.info);
    assert.equal(new Set([...portsA, ...portsB]).size, 8);
    for (const stack of [a.info, b.info]) {
      const whoami = await whoamiGssapi(stack);
      assert.equal(whoami.code, 0, whoami.stderr);
    }
    const generated = await syncWorkgroups(b.info);
    assert.equal(generated.names.length, 120);
    assert.equal(b.info.data.memberValues, 120 * 7);

    const before = await syncWorkgroups(a.info);
    const oldPid = a.info.ldap.pid;
    await a.restartSlapd();
    assert.notEqual(a.info.ldap.pid, oldPid);
    assert.ok(!(await alive(oldPid)));
    const afterRestart = await syncWorkgroups(a.info);
    assert.deepEqual(afterRestart.names.sort(), before.names.sort());
    const saved: StackInfo = JSON.parse(
      await Deno.readTextFile(`${a.info.dir}/stack.json`),
    );
    assert.equal(saved.ldap.pid, a.info.ldap.pid);
  } finally {
    await Promise.all([a.down(), b.down()]);
  }
  for (const stack of [a.info, b.info]) {
    for (const process of stack.processes) {
      assert.ok(!(await alive(process.pid)));
    }
  }
});

Deno.test("an up that fails halfway stops every process it had started", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-stack-fail-" });
  try {
    // A broken slapd config directory makes slapadd -n0 fail while the KDC,
    // k5start, remctld and moto start in parallel.
    await Deno.mkdir(`${dir}/slapd/slapd.d/cn=config`, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/slapd/slapd.d/cn=config.ldif`,
      "garbage\n",
    );
    const result = await stackTask("up", dir);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /slapadd/);
    assert.match(result.stderr, /up failed, stopping \d+ started process/);
    const processes: StackProcess[] = JSON.parse(
      await Deno.readTextFile(`${dir}/processes.json`),
    );
    assert.ok(processes.length > 0, "the parallel parts should have started");
    for (const process of processes) {
      assert.ok(
        !(await alive(process.pid)),
        `${process.name} (${process.pid}) still runs`,
      );
    }
  } finally {
    await stackTask("down", dir);
    await Deno.remove(dir, { recursive: true });
  }
});
