/**
 * wgsync-remctl logs every run's stdout, stderr and exit status with the
 * event id to a REAL systemd-journald (private namespaces, see
 * helpers/journald.ts), read back with `journalctl -o json`.
 */
import assert from "node:assert/strict";
import { roleArgv } from "../tasks/launch.ts";
import { BENCH_COMMANDS } from "../tasks/stack/remctld.ts";
import { fieldText, Journald, type JsonEntry } from "./helpers/journald.ts";
import { withTempDir } from "./helpers/ldap_role.ts";
import {
  awsClients,
  createQueue,
  eventually,
  publishEvents,
  testEvent,
  writeRemctlConfig,
} from "./helpers/remctl_role.ts";
import { getStack } from "./helpers/stack.ts";

Deno.test("each run's stdout, stderr and exit status reach the journal with the event id", async () => {
  const stack = await getStack();
  const clients = awsClients(stack);
  const queue = await createQueue(stack, clients);
  await using journald = await Journald.start();
  await withTempDir(async (dir) => {
    const files = await writeRemctlConfig(stack, dir, [queue], {
      command: [
        ...BENCH_COMMANDS.output,
        "{workgroup}",
        "{member.uid}",
        "{id}",
      ],
    });
    const [deno, ...args] = roleArgv("remctl", {
      args: ["--config", files.config],
      extraRead: [dir, stack.dir],
    });
    // The role runs in journald's mount and PID namespaces (its /run), on the host's network.
    const child = new Deno.Command("nsenter", {
      args: [
        "--target",
        String(journald.pid),
        "--mount",
        "--pid",
        "--",
        "sh",
        "-c",
        'trap "" INT TERM; "$@" & pid=$!; read -r _; kill -TERM "$pid"; wait "$pid"',
        "sh",
        deno,
        ...args,
      ],
      env: { KRB5_CONFIG: stack.krb5Config, NO_COLOR: "1" },
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = child.stderr.pipeThrough(new TextDecoderStream())
      .getReader();
    let log = "";
    (async () => {
      for (;;) {
        const { value, done } = await stderr.read();
        if (done) return;
        log += value;
      }
    })();
    const event = testEvent(`${queue.stem}:journal`, "member.added", {
      member: { dn: "uid=ann,dc=x", id: "ann", uid: "ann o'hara" },
    });
    try {
      await publishEvents(stack, clients.sns, [event]);
      let entry: JsonEntry | undefined;
      await eventually(
        async () => {
          const entries = await journald.entries([
            `WGSYNC_EVENT_ID=${event.id}`,
          ]);
          entry = entries.find((e) =>
            fieldText(e, "WGSYNC_STATUS") !== undefined
          );
          return entry !== undefined;
        },
        () => `a journal entry of the run of ${event.id}; role log:\n${log}`,
        60_000,
      );
      const field = (name: string) => fieldText(entry!, name);
      assert.equal(field("SYSLOG_IDENTIFIER"), "wgsync-remctl");
      assert.equal(field("WGSYNC_STATUS"), "0");
      assert.equal(
        field("WGSYNC_STDOUT"),
        `bench-output ${event.workgroup} ann o'hara ${event.id}\n`,
      );
      assert.equal(field("WGSYNC_STDERR"), "");
      assert.equal(field("WGSYNC_WORKGROUP"), event.workgroup);
      assert.equal(field("WGSYNC_TARGET"), queue.stem);
    } finally {
      await child.stdin.close();
      assert.equal((await child.status).code, 0, log);
    }
  });
});
