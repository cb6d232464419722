/**
 * What a REAL systemd-journald (in private namespaces, see helpers/journald.ts)
 * stores of the logging library's records, read back with `journalctl -o json`:
 * fields, priorities, levels, multi-line and binary values, oversized values,
 * redaction.
 *
 * Needs root (unshare, nsenter, mount), /lib/systemd/systemd-journald,
 * journalctl and systemd-cat; run with --allow-all (the tests spawn deno with
 * narrow permissions of its own).
 */

import assert from "node:assert/strict";
import { REDACTED } from "../lib/log/mod.ts";
import { fieldText, Journald, type JsonEntry } from "./helpers/journald.ts";
import type { PlannedRecord } from "./helpers/log_emitter.ts";
import { emit, uniqueId } from "./helpers/journal_emit.ts";

function byMessage(entries: JsonEntry[], message: string): JsonEntry {
  const found = entries.filter((entry) =>
    fieldText(entry, "MESSAGE") === message
  );
  assert.equal(
    found.length,
    1,
    `one entry with MESSAGE ${JSON.stringify(message)}`,
  );
  return found[0];
}

Deno.test("journald stores message, priority, identifier and every property as a WGSYNC_ field", async () => {
  await using journald = await Journald.start();
  const identifier = uniqueId();
  const records: PlannedRecord[] = [{
    level: "info",
    category: ["wgsync", "ldap"],
    message: "Sent {eventId} for {workgroup}",
    properties: {
      workgroup: "physics",
      eventId: "ev-0042",
      memberCount: 3,
      dryRun: false,
      HTTPStatus: 200,
      "retry-after": "5s",
      group: { dn: "cn=physics,ou=groups", members: ["alice", "bob"] },
    },
  }];
  const { stdout } = await emit(journald, { setup: { identifier }, records });
  assert.deepEqual(JSON.parse(stdout), { sink: "journal" });
  const entries = await journald.entries([`SYSLOG_IDENTIFIER=${identifier}`]);
  const entry = byMessage(entries, "Sent ev-0042 for physics");
  assert.equal(entry.PRIORITY, "6");
  assert.equal(entry.SYSLOG_IDENTIFIER, identifier);
  assert.equal(entry.LOGTAPE_CATEGORY, "wgsync.ldap");
  assert.equal(entry._TRANSPORT, "journal");
  assert.equal(entry.WGSYNC_WORKGROUP, "physics");
  assert.equal(entry.WGSYNC_EVENT_ID, "ev-0042");
  assert.equal(entry.WGSYNC_MEMBER_COUNT, "3");
  assert.equal(entry.WGSYNC_DRY_RUN, "false");
  assert.equal(entry.WGSYNC_HTTP_STATUS, "200");
  assert.equal(entry.WGSYNC_RETRY_AFTER, "5s");
  assert.deepEqual(JSON.parse(fieldText(entry, "WGSYNC_GROUP")!), {
    dn: "cn=physics,ou=groups",
    members: ["alice", "bob"],
  });
  assert.equal(
    entries.length,
    1,
    "nothing else was logged under the identifier",
  );
});

Deno.test("journald gets the syslog priority of each LogTape level and of journalPriority", async () => {
  await using journald = await Journald.start();
  const identifier = uniqueId();
  const levels = [
    "trace",
    "debug",
    "info",
    "warning",
    "error",
    "fatal",
  ] as const;
  const records: PlannedRecord[] = levels.map((level) => ({
    level,
    message: `level ${level}`,
  }));
  records.push(
    {
      level: "fatal",
      message: "emergency",
      properties: { journalPriority: 0 },
    },
    { level: "info", message: "notice", properties: { journalPriority: 5 } },
    {
      level: "info",
      message: "bad override",
      properties: { journalPriority: 9 },
    },
  );
  await emit(journald, { setup: { identifier, level: "trace" }, records });
  const entries = await journald.entries([`SYSLOG_IDENTIFIER=${identifier}`]);
  const expected: Record<string, string> = {
    "level trace": "7",
    "level debug": "7",
    "level info": "6",
    "level warning": "4",
    "level error": "3",
    "level fatal": "2",
    emergency: "0",
    notice: "5",
    "bad override": "6",
  };
  for (const [message, priority] of Object.entries(expected)) {
    const entry = byMessage(entries, message);
    assert.equal(entry.PRIORITY, priority, message);
    assert.equal(
      entry.WGSYNC_JOURNAL_PRIORITY,
      undefined,
      "not a field itself",
    );
  }
});

Deno.test("records below the configured level never reach journald", async () => {
  await using journald = await Journald.start();
  const identifier = uniqueId();
  await emit(journald, {
    setup: { identifier, level: "warning" },
    records: [
      { level: "debug", message: "too detailed" },
      { level: "info", message: "routine" },
      { level: "warning", message: "worth a look" },
    ],
  });
  const entries = await journald.entries([`SYSLOG_IDENTIFIER=${identifier}`]);
  assert.deepEqual(entries.map((entry) => entry.MESSAGE), ["worth a look"]);
});

Deno.test("multi-line and binary values reach journald intact", async () => {
  await using journald = await Journald.start();
  const identifier = uniqueId();
  const message = "first line\nsecond line\n\tindented third";
  const ldif = "dn: cn=x\nmember: a\nmember: b\n";
  const bytes = [0, 1, 2, 10, 255, 10, 61];
  await emit(journald, {
    setup: { identifier },
    records: [{
      level: "error",
      message,
      properties: {
        ldif,
        raw: { $bytes: bytes },
        error: {
          $error: { message: "bind failed", cause: "connection reset" },
        },
      },
    }],
  });
  const entries = await journald.entries([`SYSLOG_IDENTIFIER=${identifier}`]);
  assert.equal(entries.length, 1);
  const entry = entries[0];
  assert.equal(fieldText(entry, "MESSAGE"), message);
  assert.equal(fieldText(entry, "WGSYNC_LDIF"), ldif);
  assert.deepEqual(
    entry.WGSYNC_RAW,
    bytes,
    "binary data comes back byte for byte",
  );
  const error = fieldText(entry, "WGSYNC_ERROR")!;
  assert.match(error, /^Error: bind failed\n\s+at /, "the stack trace is kept");
  assert.match(error, /\nCaused by: Error: connection reset\n/);
});

Deno.test("values too large for one datagram are cut with a marker and the entry still arrives", async () => {
  await using journald = await Journald.start();
  const identifier = uniqueId();
  await emit(journald, {
    setup: { identifier },
    records: [
      {
        level: "warning",
        message: "huge {workgroup}",
        properties: {
          workgroup: "chemistry",
          members: { $repeat: ["uid=someone,ou=people\n", 20_000] }, // 440,000 bytes
          note: { $repeat: ["ä", 30_000] }, // 60,000 bytes of two-byte characters
        },
      },
      { level: "info", message: "after the huge one" },
    ],
  });
  const entries = await journald.entries([`SYSLOG_IDENTIFIER=${identifier}`]);
  const entry = byMessage(entries, "huge chemistry");
  assert.equal(
    entry.WGSYNC_WORKGROUP,
    "chemistry",
    "small fields are untouched",
  );
  const members = fieldText(entry, "WGSYNC_MEMBERS")!;
  assert.match(members, /^(uid=someone,ou=people\n)+/);
  const marker = /…\[truncated (\d+) of 440000 bytes\]$/.exec(members);
  assert.ok(
    marker,
    `members end in a truncation marker: ${members.slice(-80)}`,
  );
  const kept = new TextEncoder().encode(members).length -
    new TextEncoder().encode(marker[0]).length;
  assert.equal(kept + Number(marker[1]), 440_000);
  const note = fieldText(entry, "WGSYNC_NOTE")!;
  assert.ok(
    note.length > 1000,
    "the second largest field was not needlessly cut",
  );
  const total = Object.entries(entry)
    .filter(([name]) => !name.startsWith("_"))
    .reduce(
      (sum, [name]) =>
        sum + new TextEncoder().encode(fieldText(entry, name) ?? "").length,
      0,
    );
  assert.ok(total <= 200_000, `entry fits the datagram budget: ${total} bytes`);
  byMessage(entries, "after the huge one");
});

Deno.test("secret-looking properties are redacted in journald fields and messages", async () => {
  await using journald = await Journald.start();
  const identifier = uniqueId();
  const secrets = ["hunter2-pw", "sk-api-123", "tok-456", "nested-pw-789"];
  await emit(journald, {
    setup: { identifier },
    records: [{
      level: "info",
      message: "Binding as {user} with {password} via {*}",
      properties: {
        user: "svc-ldap",
        password: "hunter2-pw",
        apiKey: "sk-api-123",
        accessToken: "tok-456",
        bind: { dn: "cn=svc", credentials: { password: "nested-pw-789" } },
        keyId: "alias/wgsync",
        passwordFile: "/run/wgsync/ldap.pw",
        keytab: "/run/wgsync/ldap.keytab",
      },
    }],
  });
  const raw = await journald.run("journalctl", [
    "-o",
    "json",
    "--all",
    `SYSLOG_IDENTIFIER=${identifier}`,
  ]);
  for (const secret of secrets) {
    assert.ok(!raw.stdout.includes(secret), `${secret} is not in the journal`);
  }
  const [entry] = await journald.entries([`SYSLOG_IDENTIFIER=${identifier}`]);
  assert.match(
    String(entry.MESSAGE),
    /^Binding as svc-ldap with \[redacted\] via \{/,
  );
  assert.equal(entry.WGSYNC_PASSWORD, REDACTED);
  assert.equal(entry.WGSYNC_API_KEY, REDACTED);
  assert.equal(entry.WGSYNC_ACCESS_TOKEN, REDACTED);
  assert.deepEqual(JSON.parse(String(entry.WGSYNC_BIND)), {
    dn: "cn=svc",
    credentials: REDACTED,
  });
  assert.equal(entry.WGSYNC_KEY_ID, "alias/wgsync");
  assert.equal(entry.WGSYNC_PASSWORD_FILE, "/run/wgsync/ldap.pw");
  assert.equal(entry.WGSYNC_KEYTAB, "/run/wgsync/ldap.keytab");
});
