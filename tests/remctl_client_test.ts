/**
 * The remctl v3 client (lib/wgsync_remctl) against the stack's real
 * remctld, and its pure parts: message framing, command templates, target
 * matches and the `[remctl]` section's checks.
 */
import assert from "node:assert/strict";
import { remctlSchema } from "../lib/config/schema.ts";
import {
  CommandTemplateError,
  eventMatcher,
  RemctlConnection,
  RemctlError,
  RemctlPool,
  renderCommand,
} from "../lib/wgsync_remctl/mod.ts";
import {
  commandMessages,
  decodeServerMessage,
} from "../lib/wgsync_remctl/protocol.ts";
import { BENCH_COMMANDS } from "../tasks/stack/remctld.ts";
import { testEvent } from "./helpers/remctl_role.ts";
import { getStack, signal, type StackInfo } from "./helpers/stack.ts";

const enc = (args: string[]) =>
  args.map((arg) => new TextEncoder().encode(arg));
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

async function realm(): Promise<StackInfo> {
  const stack = await getStack();
  // MIT krb5 reads the stack's realm from KRB5_CONFIG itself.
  Deno.env.set("KRB5_CONFIG", stack.krb5Config);
  return stack;
}

function open(stack: StackInfo, ccache = stack.ccaches.remctlClient) {
  return RemctlConnection.open({
    host: stack.remctl.host,
    port: stack.remctl.port,
    principal: stack.remctl.service,
    ccache,
    timeoutMs: 5_000,
  });
}

Deno.test("one kept-open connection runs many commands with output, without, and failing", async () => {
  const stack = await realm();
  const connection = await open(stack);
  try {
    for (let i = 0; i < 20; i++) {
      const echoed = await connection.run(
        enc([...BENCH_COMMANDS.output, `line ${i}`]),
        { timeoutMs: 5_000 },
      );
      assert.deepEqual([
        echoed.status,
        text(echoed.stdout),
        text(echoed.stderr),
      ], [0, `bench-output line ${i}\n`, ""]);
      const quiet = await connection.run(enc(BENCH_COMMANDS.quiet), {
        timeoutMs: 5_000,
      });
      assert.deepEqual([quiet.status, quiet.stdout.byteLength], [0, 0]);
    }
    await Deno.writeTextFile(stack.remctl.exitCodeFile, "4");
    try {
      const failed = await connection.run(
        enc([stack.remctl.command, stack.remctl.subcommand, "x", ""]),
        {
          timeoutMs: 10_000,
        },
      );
      assert.equal(failed.status, 4);
    } finally {
      await Deno.remove(stack.remctl.exitCodeFile);
    }
    // After a command with output the next one continues an empty started
    // command: a long one (several chunks) and a refused one work as well.
    const parts = ["a", "b", "c"].map((c) => c.repeat(60_000));
    const long = await connection.run(
      enc([...BENCH_COMMANDS.output, ...parts]),
      { timeoutMs: 10_000 },
    );
    assert.equal(text(long.stdout), `bench-output ${parts.join(" ")}\n`);
    await assert.rejects(
      connection.run(enc(["wgsync", "nonesuch"]), { timeoutMs: 5_000 }),
      {
        name: "RemctlError",
        code: 5,
      },
    );
    const after = await connection.run(
      enc([...BENCH_COMMANDS.output, "again"]),
      { timeoutMs: 5_000 },
    );
    assert.equal(text(after.stdout), "bench-output again\n");
    assert.equal(connection.usable, true);
  } finally {
    connection.close();
  }
});

Deno.test("an unknown command or a principal without access is a remote error and the connection stays open", async () => {
  const stack = await realm();
  const connection = await open(stack);
  try {
    await assert.rejects(
      connection.run(enc(["wgsync", "nonesuch"]), { timeoutMs: 5_000 }),
      {
        name: "RemctlError",
        kind: "remote",
        code: 5,
        message:
          `The remctl server ${stack.remctl.host}:${stack.remctl.port} ("${stack.remctl.service}") refused the command: ERROR_UNKNOWN_COMMAND: Unknown command`,
      },
    );
    // After a command with output the next one continues an empty started
    // command: a long one (several chunks) and a refused one work as well.
    const parts = ["a", "b", "c"].map((c) => c.repeat(60_000));
    const long = await connection.run(
      enc([...BENCH_COMMANDS.output, ...parts]),
      { timeoutMs: 10_000 },
    );
    assert.equal(text(long.stdout), `bench-output ${parts.join(" ")}\n`);
    await assert.rejects(
      connection.run(enc(["wgsync", "nonesuch"]), { timeoutMs: 5_000 }),
      {
        name: "RemctlError",
        code: 5,
      },
    );
    const after = await connection.run(
      enc([...BENCH_COMMANDS.output, "again"]),
      { timeoutMs: 5_000 },
    );
    assert.equal(text(after.stdout), "bench-output again\n");
    assert.equal(connection.usable, true);
    const quiet = await connection.run(enc(BENCH_COMMANDS.quiet), {
      timeoutMs: 5_000,
    });
    assert.equal(quiet.status, 0);
  } finally {
    connection.close();
  }
  const other = await open(stack, stack.ccaches.ldapClient);
  try {
    await assert.rejects(
      other.run(enc(BENCH_COMMANDS.quiet), { timeoutMs: 5_000 }),
      {
        name: "RemctlError",
        kind: "remote",
        code: 6,
      },
    );
  } finally {
    other.close();
  }
});

Deno.test("a missing or empty ticket cache is a gss error naming the cache, not a crash", async () => {
  const stack = await realm();
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/empty`, "");
    for (const ccache of [`${dir}/missing`, `${dir}/empty`]) {
      for (let i = 0; i < 5; i++) {
        await assert.rejects(open(stack, ccache), (error: unknown) => {
          assert.ok(error instanceof RemctlError);
          assert.equal(error.kind, "gss");
          assert.match(
            error.message,
            new RegExp(
              `ticket cache has no valid credentials: ccache is "FILE:${ccache}"`,
            ),
          );
          return true;
        });
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a silent server is a timeout; a broken kept-open connection is opened again by the pool", async () => {
  const stack = await realm();
  const pool = new RemctlPool({
    host: stack.remctl.host,
    port: stack.remctl.port,
    principal: stack.remctl.service,
    ccache: stack.ccaches.remctlClient,
    timeoutMs: 2_000,
  });
  try {
    assert.equal(
      (await pool.run(enc(BENCH_COMMANDS.quiet), { timeoutMs: 5_000 })).status,
      0,
    );
    assert.equal(pool.idleConnections, 1);
    const child = await connectionChild(stack.remctl.pid);
    signal(child, "SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The kept-open connection is dead: the pool retries once on a new one.
    assert.equal(
      (await pool.run(enc(BENCH_COMMANDS.quiet), { timeoutMs: 5_000 })).status,
      0,
    );
    const stopped = await connectionChild(stack.remctl.pid);
    signal(stopped, "SIGSTOP");
    try {
      await assert.rejects(
        pool.run(enc(BENCH_COMMANDS.quiet), { timeoutMs: 1_000 }),
        {
          name: "RemctlError",
          kind: "timeout",
        },
      );
      assert.equal(pool.idleConnections, 0);
    } finally {
      signal(stopped, "SIGCONT");
    }
  } finally {
    pool.close();
  }
});

/** The newest child of remctld (serving the connection just used). */
async function connectionChild(pid: number): Promise<number> {
  const { stdout } = await new Deno.Command("cat", {
    args: [`/proc/${pid}/task/${pid}/children`],
  }).output();
  const children = text(stdout).trim().split(/\s+/).filter((p) => p !== "").map(
    Number,
  );
  assert.ok(children.length > 0, "remctld has a connection child");
  return children.at(-1)!;
}

Deno.test("commands longer than one token are split into continued MESSAGE_COMMANDs", () => {
  const big = new Uint8Array(150_000).fill(65);
  const messages = commandMessages([Uint8Array.of(1, 2), big], {
    keepAlive: true,
    chunkData: 65_000,
  });
  assert.deepEqual(
    messages.map((m) => [m[0], m[1], m[2], m[3], m.byteLength]),
    [
      [2, 1, 1, 1, 65_004],
      [2, 1, 1, 2, 65_004],
      [2, 1, 1, 3, 150_014 - 130_000 + 4],
    ],
  );
  assert.deepEqual(
    commandMessages([Uint8Array.of(7)], { keepAlive: false, chunkData: 65_000 })
      .map((m) => [...m]),
    [[2, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 7]],
  );
  // Continuing an empty started command: 2 ..., 3 (one chunk: 3).
  assert.deepEqual(
    commandMessages([big], {
      keepAlive: true,
      chunkData: 65_000,
      continued: true,
    }).map((m) => m[3]),
    [2, 2, 3],
  );
  assert.deepEqual(
    commandMessages([Uint8Array.of(7)], {
      keepAlive: true,
      chunkData: 65_000,
      continued: true,
    }).map((m) => m[3]),
    [3],
  );
  assert.throws(() => decodeServerMessage(Uint8Array.of(2, 3, 1, 0, 0, 0, 9)), {
    name: "TypeError",
    message:
      "Cannot read a remctl message of type 3: expected at least 16 bytes, got 7",
  });
  assert.throws(() => decodeServerMessage(Uint8Array.of(2, 42)), {
    name: "TypeError",
    message:
      "Cannot read a remctl message: unknown type 42 (protocol version 2)",
  });
});

Deno.test("command templates fill placeholders into single arguments and refuse NUL", () => {
  const event = testEvent("research-computing:a b", "member.added", {
    member: { dn: "uid=x y,dc=z", id: "x y", uid: null },
  });
  assert.deepEqual(
    renderCommand([
      "grp",
      "add",
      "--group={workgroup}",
      "{member.uid}",
      "{member.id}",
      "{id}",
      "{csn}",
      "--seq={seq}",
      "{members}",
    ], event)
      .map(text),
    [
      "grp",
      "add",
      "--group=research-computing:a b",
      "",
      "x y",
      event.id,
      event.csn,
      `--seq=${event.seq}`,
      "",
    ],
  );
  const snapshot = testEvent("s:w", "workgroup.snapshot");
  assert.deepEqual(
    renderCommand(["c", "s", "{members}"], snapshot).map(text).at(-1),
    JSON.stringify(snapshot.members),
  );
  assert.throws(
    () =>
      renderCommand(["c", "s", "{previous}"], { ...event, previous: "a\0b" }),
    (error: unknown) =>
      error instanceof CommandTemplateError &&
      /argument 3 \("\{previous\}"\) contains a NUL/.test(error.message),
  );
});

Deno.test("target matches combine types, stems and workgroup globs", () => {
  const match = eventMatcher({
    types: ["member.added"],
    stems: ["uit"],
    workgroups: ["uit:staff-*", "uit:?x"],
  });
  assert.equal(match(testEvent("uit:staff-all", "member.added")), true);
  assert.equal(match(testEvent("uit:ax", "member.added")), true);
  assert.equal(match(testEvent("uit:abx", "member.added")), false);
  assert.equal(match(testEvent("uit:staff-all", "member.removed")), false);
  assert.equal(match(testEvent("research:staff-all", "member.added")), false);
  assert.equal(
    eventMatcher({})(testEvent("a.b:c(d)", "workgroup.deleted")),
    true,
  );
});

Deno.test("the [remctl] section refuses bad templates and duplicate targets", () => {
  const target = {
    name: "t",
    queue_url: "https://sqs.us-west-2.amazonaws.com/1/q.fifo",
    host: "h",
    command: ["c", "s"],
  };
  const problems = (remctl: unknown) => {
    const result = remctlSchema.safeParse(remctl);
    return result.success
      ? []
      : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  };
  const base = { ccache: "/run/wgsync-remctl/ccache" };
  assert.deepEqual(problems({ ...base, targets: [target] }), []);
  assert.deepEqual(
    problems({
      ...base,
      targets: [{ ...target, command: ["c", "s", "{members}", "{id}"] }],
    }),
    [
      'targets.0.command: "{members}" must be the whole last argument (remctld\'s stdin=last hands it to the backend on standard input), found in argument 3 "{members}"',
    ],
  );
  assert.deepEqual(
    problems({
      ...base,
      targets: [{ ...target, command: ["c", "s", "{user}"] }],
    }),
    [
      'targets.0.command: unknown placeholder "{user}" in argument 3: expected one of {type} {workgroup} {stem} {member.uid} {member.id} {member.dn} {previous} {members} {id} {csn} {seq}',
    ],
  );
  assert.deepEqual(
    problems({
      ...base,
      targets: [{
        ...target,
        queue_url: "https://sqs.us-west-2.amazonaws.com/1/q",
      }],
    }),
    [
      "targets.0.queue_url: expected the URL of a FIFO queue (ending in .fifo)",
    ],
  );
  assert.deepEqual(problems({ ...base, targets: [target, { ...target }] }), [
    'targets: two targets have the same name "t": expected each once',
    `targets: two targets have the same queue_url "${target.queue_url}": expected each once`,
  ]);
});
