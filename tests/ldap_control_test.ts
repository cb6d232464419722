/**
 * wgsync-ldap's control socket on the real stack: `wgsync-ldap snapshot
 * WORKGROUP` (the command line, through its own permissions) makes the
 * running role (with `--stdout`, so its outbox is read on standard output)
 * emit a `workgroup.snapshot` holding the directory's members, through its
 * normal outbox; bad requests are answered with an error and the role keeps
 * serving.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { WorkgroupEvent } from "../lib/events/mod.ts";
import { roleCommand } from "../tasks/launch.ts";
import {
  directoryMemberships,
  RoleProcess,
  until,
} from "./helpers/ldap_role.ts";
import { getStack, type StackInfo } from "./helpers/stack.ts";

const SOCKET = (stack: StackInfo) => `${stack.dir}/run/ldap-control.sock`;

async function snapshotCommand(
  stack: StackInfo,
  workgroup: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await roleCommand("ldap", {
    args: ["snapshot", workgroup, "--config", stack.config],
    extraRead: [stack.dir],
    extraWrite: [stack.dir],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout).trim(),
    stderr: decoder.decode(output.stderr),
  };
}

/** Sends raw bytes to the control socket; returns the answer line. */
async function raw(path: string, bytes: Uint8Array): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path });
  await conn.write(bytes);
  return (await new Response(conn.readable).text()).trim();
}

function events(role: RoleProcess): WorkgroupEvent[] {
  return role.lines.map((line) => JSON.parse(line) as WorkgroupEvent);
}

Deno.test({
  name:
    "wgsync-ldap snapshot WORKGROUP: a snapshot of the directory's members through the outbox, on demand",
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  const stack = await getStack();
  const role = RoleProcess.start(stack, {
    dir: stack.dir,
    config: stack.config,
  }, { args: ["--stdout"] });
  try {
    await role.waitForLog(/Ready: /, 60_000);
    const workgroup = "uit:helpdesk";

    await t.step("the socket is mode 0660", async () => {
      assert.equal((await Deno.stat(SOCKET(stack))).mode! & 0o777, 0o660);
    });

    await t.step(
      "the command prints the id of a snapshot the role then sends",
      async () => {
        const before = events(role).filter((e) => e.workgroup === workgroup);
        const answer = await snapshotCommand(stack, workgroup);
        assert.equal(answer.code, 0, answer.stderr);
        assert.match(answer.stdout, /^[0-9a-f]{64}$/);
        await until(
          () => events(role).some((e) => e.id === answer.stdout),
          `the snapshot ${answer.stdout} on the role's stdout`,
        );
        const snapshot = events(role).find((e) => e.id === answer.stdout)!;
        const members = (await directoryMemberships(
          stack,
          stack.ldap.workgroupBase,
        )).get(workgroup);
        assert.deepEqual(
          {
            type: snapshot.type,
            workgroup: snapshot.workgroup,
            members: new Set(snapshot.members!.map((m) => m.dn.toLowerCase())),
          },
          { type: "workgroup.snapshot", workgroup, members },
        );
        assert.ok(
          before.every((e) => e.seq < snapshot.seq),
          "the snapshot's seq follows the workgroup's earlier events",
        );
      },
    );

    await t.step(
      "a second request is a new event (not de-duplicated away)",
      async () => {
        const first = await snapshotCommand(stack, workgroup);
        const second = await snapshotCommand(stack, workgroup);
        assert.deepEqual([first.code, second.code], [0, 0]);
        assert.notEqual(first.stdout, second.stdout);
        await until(
          () => events(role).some((e) => e.id === second.stdout),
          "the second snapshot on stdout",
        );
      },
    );

    await t.step(
      "an unknown workgroup or a bad request is refused; the role keeps serving",
      async () => {
        const unknown = await snapshotCommand(stack, "uit:no-such-group");
        assert.equal(unknown.code, 1);
        assert.match(
          unknown.stderr,
          /wgsync-ldap refused the snapshot of "uit:no-such-group": Cannot snapshot "uit:no-such-group" as the store has no such workgroup/,
        );
        const encoder = new TextEncoder();
        assert.deepEqual(
          [
            await raw(SOCKET(stack), encoder.encode("delete everything\n")),
            await raw(SOCKET(stack), encoder.encode("snapshot \n")),
            await raw(SOCKET(stack), new Uint8Array(4097).fill(65)),
            await raw(SOCKET(stack), new Uint8Array([115, 32, 0xff, 10])),
          ],
          [
            'error Cannot answer the request as the command is unknown: command is "delete", expected "snapshot WORKGROUP"',
            'error Cannot ask for a snapshot as the workgroup name is empty or has control characters: name is ""',
            "error Cannot read the request as it is longer than 4096 bytes",
            "error Cannot read the request as it is not UTF-8",
          ],
        );
        const after = await snapshotCommand(stack, workgroup);
        assert.equal(after.code, 0, after.stderr);
      },
    );

    await t.step(
      "the command without a workgroup is a usage error",
      async () => {
        const output = await roleCommand("ldap", {
          args: ["snapshot"],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(output.code, 64);
      },
    );
  } finally {
    assert.equal(await role.stop(), 0, role.stderr);
  }
  await t.step("the socket file is removed on stop", async () => {
    await assert.rejects(Deno.lstat(SOCKET(stack)), Deno.errors.NotFound);
  });
});
