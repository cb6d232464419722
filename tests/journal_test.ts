/**
 * The logging library against a REAL systemd-journald (in private
 * namespaces, see helpers/journald.ts) read back with `journalctl -o json`,
 * plus the stderr fallbacks and the native protocol encoding.
 *
 * Needs root (unshare, nsenter, mount), /lib/systemd/systemd-journald,
 * journalctl and systemd-cat; run with --allow-all (the tests spawn deno with
 * narrow permissions of its own).
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { LogRecord } from "@logtape/logtape";
import {
  encodeJournalEntry,
  fitJournalEntry,
  isSecretName,
  journalFieldName,
  REDACTED,
} from "../lib/log/mod.ts";
import { getJournalSink } from "../lib/log/journal_sink.ts";
import { DatagramListener } from "./helpers/datagram_listener.ts";
import { fieldText, Journald, type JsonEntry } from "./helpers/journald.ts";
import type { Plan, PlannedRecord } from "./helpers/log_emitter.ts";

const EMITTER = fileURLToPath(
  new URL("./helpers/log_emitter.ts", import.meta.url),
);
const JOURNAL_SOCKET = "/run/systemd/journal/socket";
/** Exactly what a role gets for logging; no read permission. */
const EMITTER_PERMISSIONS = [
  `--allow-write=${JOURNAL_SOCKET}`,
  `--allow-net=unix:${JOURNAL_SOCKET}`,
  "--allow-env=JOURNAL_STREAM",
];

/** Runs the emitter inside the journald namespace with role-like permissions. */
async function emit(
  journald: Journald,
  plan: Plan,
  options: { wrapper?: string[]; permissions?: string[] } = {},
) {
  const result = await journald.run(options.wrapper?.[0] ?? Deno.execPath(), [
    ...(options.wrapper ? [...options.wrapper.slice(1), Deno.execPath()] : []),
    "run",
    "--frozen",
    "--cached-only",
    ...(options.permissions ?? EMITTER_PERMISSIONS),
    EMITTER,
  ], { stdin: JSON.stringify(plan) });
  assert.equal(result.code, 0, `emitter failed: ${result.stderr}`);
  return result;
}

function uniqueId(): string {
  return `wgsync-test-${crypto.randomUUID().slice(0, 8)}`;
}

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

Deno.test("the journald namespace leaves the host's /run and /var/log/journal alone", async () => {
  const before = await hostState();
  const journald = await Journald.start();
  const inside = await journald.run("ls", ["/run/systemd/journal"]);
  assert.match(inside.stdout, /socket/);
  assert.deepEqual(await hostState(), before, "while running");
  await journald.stop();
  assert.deepEqual(await hostState(), before, "after stopping");
});

async function hostState() {
  const list = async (dir: string) => {
    try {
      return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name)
        .sort();
    } catch {
      return null;
    }
  };
  return {
    runSystemd: await list("/run/systemd"),
    runLog: await list("/run/log"),
    runMount: await list("/run/mount"),
    varLogJournal: await list("/var/log/journal"),
  };
}

// ---------------------------------------------------------------------------
// Without journald: console lines, encoding, and journald refusing records.

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

Deno.test("encodeJournalEntry writes simple fields as NAME=value and multi-line ones in binary form", () => {
  const bytes = encodeJournalEntry({
    MESSAGE: "hi",
    WGSYNC_X: "a\nb",
    EMPTY: "",
  });
  const expected = new Uint8Array([
    ...new TextEncoder().encode("MESSAGE=hi\nWGSYNC_X\n"),
    3,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    ...new TextEncoder().encode("a\nb\nEMPTY=\n"),
  ]);
  assert.deepEqual(bytes, expected);
  for (
    const name of ["_PID", "1ST", "lower", "WITH-DASH", "", "X".repeat(65)]
  ) {
    assert.throws(
      () => encodeJournalEntry({ [name]: "v" }),
      (error: Error) =>
        error instanceof TypeError && error.message.includes(`"${name}"`),
      name,
    );
  }
});

Deno.test("fitJournalEntry cuts the largest values at a character boundary and leaves small entries alone", () => {
  const small = { MESSAGE: "x" };
  assert.equal(fitJournalEntry(small, 100), small);
  const fitted = fitJournalEntry({
    MESSAGE: "m",
    BIG: "é".repeat(1000),
    MID: "y".repeat(300),
  }, 600);
  const size = encodeJournalEntry(fitted).length;
  assert.ok(size <= 600, `fits: ${size}`);
  assert.equal(fitted.MESSAGE, "m");
  assert.equal(fitted.MID, "y".repeat(300));
  assert.match(String(fitted.BIG), /^(é)+…\[truncated \d+ of 2000 bytes\]$/);
});

Deno.test("property names become valid WGSYNC_ journal field names", () => {
  const cases: Record<string, string> = {
    workgroup: "WGSYNC_WORKGROUP",
    eventId: "WGSYNC_EVENT_ID",
    HTTPStatus: "WGSYNC_HTTP_STATUS",
    entryUUID: "WGSYNC_ENTRY_UUID",
    "retry-after": "WGSYNC_RETRY_AFTER",
    "a.b c": "WGSYNC_A_B_C",
    _private: "WGSYNC_PRIVATE",
    "größe": "WGSYNC_GR_SSE",
    "": "WGSYNC_PROPERTY",
    ["x".repeat(80)]: `WGSYNC_${"X".repeat(57)}`,
  };
  for (const [property, field] of Object.entries(cases)) {
    assert.equal(journalFieldName(property), field, property);
  }
});

Deno.test("secret-looking property names are recognised, identifiers of keys are not", () => {
  for (
    const name of [
      "password",
      "ldapPassword",
      "secret",
      "clientSecret",
      "token",
      "accessToken",
      "credentials",
      "authorization",
      "key",
      "apiKey",
      "privateKey",
      "data_key",
      "plaintext",
      "pwd",
      "auth",
    ]
  ) {
    assert.equal(isSecretName(name), true, name);
  }
  for (
    const name of [
      "keyId",
      "kmsKeyId",
      "keyArn",
      "keytab",
      "keytabPath",
      "passwordFile",
      "secretArn",
      "tokenExpiry",
      "workgroup",
      "cookie",
      "author",
      "monkey",
      "keyVersion",
    ]
  ) {
    assert.equal(isSecretName(name), false, name);
  }
});

Deno.test("records journald does not take go to the fallback, with one warning, until it takes them again", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/journal.socket`;
  let listener = new DatagramListener(path);
  const fallback: LogRecord[] = [];
  const sink = getJournalSink({
    identifier: "wgsync-test",
    socket: path,
    fallback: (record) => fallback.push(record),
  });
  const record = (message: string): LogRecord => ({
    category: ["wgsync", "test"],
    level: "info",
    message: [message],
    rawMessage: message,
    timestamp: Date.now(),
    properties: {},
  });
  try {
    sink(record("one"));
    await sink.drain();
    await listener.waitForCount(1);
    assert.deepEqual(
      listener.messages.map((m) => /MESSAGE=(.*)/.exec(m)?.[1]),
      ["one"],
    );
    await listener.close();
    await Deno.remove(path);
    sink(record("two"));
    sink(record("three"));
    await sink.drain();
    assert.equal(fallback.length, 3);
    assert.equal(fallback[0].level, "warning");
    assert.match(
      String(fallback[0].message[0]),
      /^Cannot send log records to journald at ".*journal\.socket": .*No such file/,
    );
    assert.deepEqual(fallback.slice(1).map((r) => r.message[0]), [
      "two",
      "three",
    ]);
    listener = new DatagramListener(path);
    sink(record("four"));
    await sink.drain();
    await listener.waitForCount(1);
    assert.deepEqual(
      listener.messages.map((m) => /MESSAGE=(.*)/.exec(m)?.[1]),
      ["four"],
    );
    assert.equal(
      fallback.length,
      3,
      "no more fallback once journald takes records",
    );
  } finally {
    await sink[Symbol.asyncDispose]();
    await listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

function testRecord(message: string): LogRecord {
  return {
    category: ["wgsync", "test"],
    level: "info",
    message: [message],
    rawMessage: message,
    timestamp: Date.now(),
    properties: {},
  };
}

Deno.test("a burst beyond maxPending is dropped, counted and the count logged to journald", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/journal.socket`;
  const listener = new DatagramListener(path);
  const fallback: LogRecord[] = [];
  const sink = getJournalSink({
    identifier: "wgsync-test",
    socket: path,
    fallback: (record) => fallback.push(record),
    maxPending: 5,
  });
  try {
    for (let i = 0; i < 20; i++) sink(testRecord(`r${i}`));
    await sink.drain();
    const messages = (await listener.waitForCount(7)).map((m) =>
      /MESSAGE=(.*)/.exec(m)![1]
    );
    const notes = messages.filter((m) => m.includes("dropped"));
    assert.equal(notes.length, 1, JSON.stringify(messages));
    const dropped = Number(
      /^(\d+) log records were dropped as 5 were already waiting/.exec(
        notes[0],
      )![1],
    );
    const kept = messages.filter((m) => !m.includes("dropped"));
    assert.equal(kept.length + dropped, 20);
    assert.deepEqual(
      kept,
      kept.toSorted((a, b) => Number(a.slice(1)) - Number(b.slice(1))),
    );
    assert.equal(kept[0], "r0");
    assert.equal(fallback.length, 0);
  } finally {
    await sink[Symbol.asyncDispose]();
    await listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a stalled journald neither blocks logging nor disposal; waiting records go to the fallback", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/journal.socket`;
  // A bound socket nobody reads: once its queue is full, a send waits until
  // the socket is read or closed.
  const stalled = Deno.listenDatagram({ transport: "unixpacket", path });
  const fallback: LogRecord[] = [];
  const sink = getJournalSink({
    identifier: "wgsync-test",
    socket: path,
    fallback: (record) => fallback.push(record),
    maxPending: 100,
  });
  try {
    for (let i = 0; i < 2000; i++) sink(testRecord(`r${i}`));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const disposed = await Promise.race([
      sink[Symbol.asyncDispose]().then(() => true),
      new Promise<false>((resolve) =>
        timer = setTimeout(() => resolve(false), 15_000)
      ),
    ]);
    clearTimeout(timer);
    assert.ok(disposed, "dispose finished despite the stalled socket");
    const waiting = fallback.length;
    assert.ok(
      waiting > 50,
      `the waiting records went to the fallback: ${waiting}`,
    );

    const received: string[] = [];
    for (;;) {
      let timeout: ReturnType<typeof setTimeout> | undefined;
      const next = await Promise.race([
        stalled.receive(),
        new Promise<undefined>((resolve) =>
          timeout = setTimeout(() => resolve(undefined), 200)
        ),
      ]);
      clearTimeout(timeout);
      if (next === undefined) break;
      received.push(/MESSAGE=(.*)/.exec(new TextDecoder().decode(next[0]))![1]);
    }
    // Reading let the one send that was stuck in the kernel complete.
    await sink.drain();
    const diverted = fallback.map((r) => String(r.message[0]));
    assert.equal(diverted.length, waiting, "nothing diverted after dispose");
    assert.ok(received.length > 0, "records were sent before the stall");
    assert.ok(
      received.length < 50,
      `the socket stalled: ${received.length} received`,
    );
    // The first record and the 100 queued after it; the rest was dropped.
    const notes = received.filter((m) => m.includes("dropped"));
    assert.deepEqual(notes, [
      "1899 log records were dropped as 100 were already waiting to be sent to journald",
    ]);
    const kept = Array.from({ length: 101 }, (_, i) => `r${i}`);
    const sent = received.filter((m) => !m.includes("dropped"));
    assert.deepEqual(
      [...sent, ...diverted].toSorted(),
      kept.toSorted(),
      "every kept record was either sent or diverted, none both",
    );
  } finally {
    stalled.close();
    await Deno.remove(dir, { recursive: true });
  }
});
