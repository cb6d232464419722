/**
 * The logging library's fallbacks when journald's socket cannot be used:
 * <N>-prefixed lines on a journal stream, readable console lines on stderr,
 * one report of a socket the process may not use.
 *
 * Needs root (unshare, nsenter, mount), /lib/systemd/systemd-journald,
 * journalctl and systemd-cat; run with --allow-all (the tests spawn deno with
 * narrow permissions of its own).
 */

import assert from "node:assert/strict";
import { Journald } from "./helpers/journald.ts";
import type { Plan } from "./helpers/log_emitter.ts";
import { emit, EMITTER, uniqueId } from "./helpers/journal_emit.ts";

async function emitOnHost(
  plan: Plan,
  env: Record<string, string> = {},
  permissions: string[] = [],
) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--frozen",
      "--cached-only",
      "--allow-env=JOURNAL_STREAM",
      ...permissions,
      EMITTER,
    ],
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "",
      ...env,
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = output.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(plan)));
  await writer.close();
  const result = await output.output();
  const decode = (data: Uint8Array) => new TextDecoder().decode(data);
  assert.equal(result.code, 0, decode(result.stderr));
  return { stdout: decode(result.stdout), stderr: decode(result.stderr) };
}

Deno.test("without the journal socket, <N> lines on a journal stream named by JOURNAL_STREAM get their priority", async () => {
  await using journald = await Journald.start();
  const identifier = uniqueId();
  // systemd-cat connects stdout and stderr to journald's stream socket, as
  // systemd does for a unit; JOURNAL_STREAM is set as systemd sets it, to
  // the device and inode of that socket.
  const absent = "/run/wgsync-test/no-journal-here";
  const script = 'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$@"';
  const result = await emit(journald, {
    setup: { identifier, journalSocket: absent },
    records: [
      {
        level: "warning",
        message: "disk {state}",
        properties: { state: "filling up" },
      },
      {
        level: "error",
        message: "two\nlines",
        properties: { eventId: "ev-1" },
      },
      {
        level: "info",
        message: "fine",
        properties: { password: "pw-in-stream" },
      },
    ],
  }, {
    wrapper: ["systemd-cat", "-t", identifier, "sh", "-c", script, "sh"],
    permissions: [
      "--allow-env=JOURNAL_STREAM",
      `--allow-write=${absent}`,
      `--allow-net=unix:${absent}`,
    ],
  });
  assert.equal(result.stdout, "", "stdout went to the journal too");
  const entries = await journald.entries([`SYSLOG_IDENTIFIER=${identifier}`]);
  const messages = entries.map((entry) => [entry.PRIORITY, entry.MESSAGE]);
  assert.deepEqual(messages, [
    ["4", "disk filling up"],
    ["3", "two\\nlines eventId=ev-1"],
    ["6", "fine password=[redacted]"],
    ["6", '{"sink":"stderr-priority"}'], // the emitter's stdout, no prefix
  ]);
  for (const entry of entries) assert.equal(entry._TRANSPORT, "stdout");
});

Deno.test("without journald or a journal stream, readable console lines go to stderr", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (
      const env of [{}, { JOURNAL_STREAM: "1:2" }] as Record<string, string>[]
    ) {
      const absent = `${dir}/absent`;
      const { stdout, stderr } = await emitOnHost(
        {
          setup: { identifier: "wgsync-test", journalSocket: absent },
          records: [
            {
              level: "warning",
              category: ["wgsync", "ldap"],
              message: "Lost {server}",
              properties: {
                server: "ldap://a",
                attempt: 2,
                reason: "timed out",
                token: "t0k",
              },
            },
            { level: "debug", message: "not shown at info" },
          ],
        },
        env,
        [`--allow-write=${absent}`, `--allow-net=unix:${absent}`],
      );
      assert.deepEqual(JSON.parse(stdout), { sink: "console" });
      const lines = stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, stderr);
      assert.match(
        lines[0],
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING wgsync\.ldap: Lost ldap:\/\/a attempt=2 reason="timed out" token=\[redacted\]$/,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a journal socket the process may not use is reported once on stderr", async () => {
  const { stdout, stderr } = await emitOnHost({
    setup: { identifier: "wgsync-test" },
    records: [{ level: "info", message: "still logged" }],
  });
  assert.deepEqual(JSON.parse(stdout), { sink: "console" });
  const lines = stderr.trimEnd().split("\n");
  assert.equal(lines.length, 2, stderr);
  assert.match(
    lines[0],
    /Z WARNING wgsync\.lib\.log: Cannot log to journald at \/run\/systemd\/journal\/socket, logging to stderr: .*NotCapable: Requires write access/,
  );
  assert.match(lines[1], /Z INFO wgsync\.test: still logged$/);
});
