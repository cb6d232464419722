/**
 * The common role entry point, through a real role (wgsync-ebs) run as a
 * subprocess with exactly its permissions, and a real datagram socket as
 * NOTIFY_SOCKET.
 */
import assert from "node:assert/strict";
import { EX_USAGE } from "../lib/role/mod.ts";
import { roleCommand } from "../tasks/launch.ts";
import { DatagramListener } from "./helpers/datagram_listener.ts";

function spawnRole(
  dir: string,
  notifySocket: string,
  args: string[],
): Deno.ChildProcess {
  return roleCommand("ebs", {
    args,
    extraRead: [dir],
    extraWrite: [notifySocket],
    extraNet: [`unix:${notifySocket}`],
    env: { NOTIFY_SOCKET: notifySocket, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test("a role reports STOPPING=1 on SIGTERM and exits 0", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-role-" });
  const listener = new DatagramListener(`${dir}/notify`);
  try {
    const config = `${dir}/wgsync.toml`;
    // Nothing will ever be mounted here: the role waits until stopped.
    await Deno.writeTextFile(
      config,
      `[ebs]\nmount_point = "${dir}/never"\ntimeout_seconds = 600\n`,
    );
    const child = spawnRole(dir, `${dir}/notify`, ["--config", config]);
    const [status] = await listener.waitForCount(1);
    assert.match(status, /^STATUS=waiting for the data volume at /);
    child.kill("SIGTERM");
    const output = await child.output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.ok(
      listener.messages.some((m) => m.split("\n").includes("STOPPING=1")),
      `no STOPPING=1 in ${JSON.stringify(listener.messages)}`,
    );
    assert.ok(!listener.messages.some((m) => m.includes("READY=1")));
    assert.match(stderr, /Stopping on SIGTERM/);
  } finally {
    await listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a role reports READY=1 once its work is done", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-role-" });
  const listener = new DatagramListener(`${dir}/notify`);
  try {
    const config = `${dir}/wgsync.toml`;
    // "/" is always a mount point; no label, so any filesystem will do.
    await Deno.writeTextFile(config, `[ebs]\nmount_point = "/"\n`);
    const output = await spawnRole(dir, `${dir}/notify`, ["--config", config])
      .output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const ready = listener.messages.find((m) => m.includes("READY=1"));
    assert.ok(ready, `no READY=1 in ${JSON.stringify(listener.messages)}`);
    assert.match(ready, /STATUS=data volume mounted at \//);
  } finally {
    await listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a role refuses an unknown option with usage and exit 64", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-role-" });
  try {
    const output = await spawnRole(dir, `${dir}/notify`, ["--bogus"]).output();
    assert.equal(output.code, EX_USAGE);
    const stderr = new TextDecoder().decode(output.stderr);
    assert.match(stderr, /Unknown option '--bogus'/);
    assert.match(stderr, /Usage: wgsync-ebs \[options\]/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function runStubborn(
  mode: string,
  signal: boolean,
): Promise<{ code: number; stderr: string }> {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-role-" });
  const listener = new DatagramListener(`${dir}/notify`);
  try {
    const config = `${dir}/wgsync.toml`;
    await Deno.writeTextFile(config, "stop_timeout_seconds = 0.5\n");
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--cached-only",
        `--allow-read=${dir}`,
        `--allow-write=${dir}`,
        `--allow-net=unix:${dir}/notify`,
        "--allow-env",
        new URL("./helpers/stubborn_role.ts", import.meta.url).pathname,
        "--config",
        config,
        "--mode",
        mode,
      ],
      env: { NOTIFY_SOCKET: `${dir}/notify`, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    await listener.waitForCount(1);
    if (signal) child.kill("SIGTERM");
    const output = await child.output();
    return {
      code: output.code,
      stderr: new TextDecoder().decode(output.stderr),
    };
  } finally {
    await listener.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a role that does not stop within its deadline exits 1", async () => {
  const { code, stderr } = await runStubborn("hang", true);
  assert.equal(code, 1);
  assert.match(
    stderr,
    /Cannot stop cleanly as work did not finish within 0\.5 s/,
  );
});

Deno.test("a role's fatal error is one log line with its cause, exit 1", async () => {
  const { code, stderr } = await runStubborn("fail", false);
  assert.equal(code, 1);
  const fatal = stderr.split("\n").filter((line) => line.includes("FATAL"));
  assert.equal(fatal.length, 1, stderr);
  assert.match(
    fatal[0],
    /wgsync-stubborn failed: Cannot continue as the widget broke: caused by: widget is on fire/,
  );
});
