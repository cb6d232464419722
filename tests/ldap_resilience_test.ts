/**
 * The sync client's resilience against a real slapd: the present phase after
 * a provider restart, reconnects after slapd was stopped, connections cut in
 * the middle of a refresh, and resuming from the last cookie the caller
 * confirmed (not the last one received).
 *
 * Connections are cut by a TCP relay (tests/helpers/ldap_relay.ts): it
 * forwards bytes between the client and the real slapd unchanged and, when
 * told, drops them (a network failure; slapd itself keeps running).
 *
 * Needs: --allow-run (the stack; ldapadd, ldapmodify, ldapdelete,
 * ldapsearch), --allow-net=127.0.0.1, --allow-read and --allow-write (the
 * stacks' temporary directories), --allow-env (WGSYNC_KEEP_STACK).
 */

import assert from "node:assert/strict";
import {
  LdapConnectionError,
  type LdapError,
  SyncClient,
  type SyncMessage,
} from "../lib/ldap/mod.ts";
import {
  adminBind,
  container,
  entryUUID,
  ldapUtil,
  nextWithin,
  readUntil,
} from "./helpers/ldap_admin.ts";
import { Relay } from "./helpers/ldap_relay.ts";
import { getStack, signal, startStack } from "./helpers/stack.ts";

const refreshDone = (message: SyncMessage) =>
  message.kind === "refreshEnd" && message.refreshDone;

Deno.test("syncrepl client resuming after a slapd restart gets the present phase: an ID set of what is still there", async () => {
  const handle = await startStack();
  try {
    const stack = handle.info;
    const { base, groups } = await container(stack, 3);
    const options = {
      url: stack.ldap.url,
      bind: adminBind(stack),
      baseDN: base,
      attributes: ["cn", "member"],
      mode: "refreshOnly" as const,
    };
    let stored: Uint8Array | undefined;
    const before: string[] = [];
    for await (const message of new SyncClient(options).sync()) {
      if (message.cookie) stored = message.cookie;
      if (message.kind === "entry") before.push(message.entryUUID);
    }
    assert.equal(before.length, 4);
    const deleted = await entryUUID(stack, groups[0]);
    await ldapUtil(stack, "ldapdelete", `${groups[0]}\n`);
    const added = `cn=added,${base}`;
    await ldapUtil(
      stack,
      "ldapadd",
      `dn: ${added}\nobjectClass: groupOfNames\ncn: added\nmember: uid=z,${stack.ldap.peopleBase}\n`,
    );
    await handle.restartSlapd();

    const messages: SyncMessage[] = [];
    for await (
      const message of new SyncClient({ ...options, cookie: stored }).sync()
    ) {
      messages.push(message);
    }
    const present = messages.flatMap((m) =>
      m.kind === "idSet" && !m.refreshDeletes ? m.entryUUIDs : []
    );
    assert.ok(present.length > 0, "an ID set of present entries");
    assert.ok(!present.includes(deleted), "the deleted entry is not present");
    for (const uuid of before.filter((u) => u !== deleted)) {
      assert.ok(present.includes(uuid), `${uuid} reported present`);
    }
    assert.equal(
      messages.filter((m) => m.kind === "idSet" && m.refreshDeletes).length,
      0,
    );
    const entries = messages.filter((m) => m.kind === "entry");
    assert.deepEqual(entries.map((e) => [e.state, e.dn]), [["add", added]]);
    const end = messages.at(-1)!;
    assert.ok(end.kind === "refreshEnd", JSON.stringify(end));
    assert.equal(end.phase, "present");
    assert.equal(end.refreshDeletes, false);
    assert.ok(end.refreshDone);
    assert.ok(end.cookie);
  } finally {
    await handle.down();
  }
});

Deno.test("syncrepl client in persist mode reconnects with backoff while slapd is down and resumes from the confirmed cookie", async () => {
  const handle = await startStack();
  const stack = handle.info;
  const retries: { error: LdapError; attempt: number; delay: number }[] = [];
  const { base, groups } = await container(stack, 2);
  const client = new SyncClient({
    url: stack.ldap.url,
    bind: adminBind(stack),
    baseDN: base,
    attributes: ["cn", "member"],
    reconnect: { minDelay: 20, maxDelay: 100 },
    onRetry: (error, retry) => retries.push({ error, ...retry }),
  });
  const iterator = client.sync();
  try {
    const refresh = await readUntil(iterator, refreshDone);
    const cookie = refresh.at(-1)!.cookie!;
    client.confirm(cookie);
    await handle.stopSlapd();
    const waiting = iterator.next();
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.ok(
      retries.length >= 2,
      `${retries.length} retries while slapd is down`,
    );
    assert.ok(retries.every((r) => r.error instanceof LdapConnectionError));
    assert.deepEqual(retries.slice(0, 2).map((r) => r.attempt), [1, 2]);
    await handle.startSlapd();
    const start = (await waiting).value as SyncMessage;
    assert.deepEqual(start, {
      kind: "start",
      reason: "reconnect",
      resumeCookie: cookie,
    });
    const resumed = await readUntil(iterator, refreshDone);
    // Nothing changed since the confirmed cookie: slapd ends the refresh at once.
    assert.deepEqual(resumed.map((m) => m.kind), ["refreshEnd"]);
    // The persistent search goes on after the reconnect.
    await ldapUtil(stack, "ldapdelete", `${groups[1]}\n`);
    const deleted = await nextWithin(iterator);
    assert.ok(deleted?.kind === "entry" && deleted.state === "delete");
  } finally {
    await client.close();
    await handle.down();
  }
});

Deno.test("syncrepl client resumes a refresh whose connection was cut in the middle of a message", async () => {
  const stack = await getStack();
  const relay = new Relay(stack.ldap.port, 100_003);
  const retries: LdapError[] = [];
  const client = new SyncClient({
    url: relay.url,
    bind: adminBind(stack),
    baseDN: stack.ldap.workgroupBase,
    scope: "one",
    attributes: ["cn", "member"],
    reconnect: { minDelay: 10, maxDelay: 50 },
    onRetry: (error) => retries.push(error),
  });
  try {
    const messages: SyncMessage[] = [];
    const iterator = client.sync();
    messages.push(...await readUntil(iterator, refreshDone));
    const starts = messages.flatMap((m, i) => m.kind === "start" ? [i] : []);
    assert.equal(starts.length, 2, "one start, one restart");
    assert.deepEqual(messages[starts[1]], {
      kind: "start",
      reason: "reconnect",
      resumeCookie: undefined,
    });
    assert.equal(retries.length, 1);
    assert.ok(retries[0] instanceof LdapConnectionError);
    assert.match(retries[0].message, /closed the connection/);
    const beforeCut = messages.slice(0, starts[1]).filter((m) =>
      m.kind === "entry"
    );
    assert.ok(beforeCut.length < stack.data.workgroups, "cut mid-refresh");
    const afterCut = messages.slice(starts[1]).filter((m) =>
      m.kind === "entry"
    );
    assert.equal(afterCut.length, stack.data.workgroups);
    assert.equal(
      afterCut.reduce((sum, m) => sum + (m.attributes.member?.length ?? 0), 0),
      stack.data.memberValues,
    );
    assert.equal(relay.connections, 2);
  } finally {
    await client.close();
    await relay.close();
  }
});

Deno.test("syncrepl client reconnects from the last confirmed cookie and delivers unconfirmed changes again", async () => {
  const stack = await getStack();
  const { base, groups } = await container(stack, 2);
  const relay = new Relay(stack.ldap.port);
  const client = new SyncClient({
    url: relay.url,
    bind: adminBind(stack),
    baseDN: base,
    attributes: ["cn", "member"],
    reconnect: { minDelay: 10, maxDelay: 50 },
  });
  const iterator = client.sync();
  try {
    await readUntil(iterator, refreshDone);
    const modify = (dn: string, uid: string) =>
      ldapUtil(
        stack,
        "ldapmodify",
        `dn: ${dn}\nchangetype: modify\nadd: member\nmember: uid=${uid},${stack.ldap.peopleBase}\n`,
      );
    await modify(groups[0], "first");
    const first = await nextWithin(iterator);
    assert.ok(first?.kind === "entry" && first.cookie);
    client.confirm(first.cookie);
    await modify(groups[1], "second");
    const second = await nextWithin(iterator);
    assert.ok(second?.kind === "entry" && second.cookie);
    assert.equal(second.dn, groups[1]);
    // The caller never confirms the second change; the network drops.
    relay.cutAll();
    const start = await nextWithin(iterator);
    assert.deepEqual(start, {
      kind: "start",
      reason: "reconnect",
      resumeCookie: first.cookie,
    });
    const resumed = await readUntil(iterator, refreshDone);
    const entries = resumed.filter((m) => m.kind === "entry");
    assert.deepEqual(entries.map((e) => e.dn), [groups[1]]);
    assert.deepEqual(entries[0].attributes.member, [
      `uid=m1,${stack.ldap.peopleBase}`,
      `uid=second,${stack.ldap.peopleBase}`,
    ]);
    assert.equal(relay.connections, 2);
  } finally {
    await client.close();
    await relay.close();
  }
});

Deno.test("syncrepl client reads the socket only as fast as the caller consumes", async () => {
  const handle = await startStack({ groups: 20_000, members: 20 });
  const stack = handle.info;
  const relay = new Relay(stack.ldap.port);
  const client = new SyncClient({
    url: relay.url,
    bind: adminBind(stack),
    baseDN: stack.ldap.workgroupBase,
    scope: "one",
    attributes: ["cn", "member"],
    mode: "refreshOnly",
    reconnect: { maxAttempts: 1 },
  });
  try {
    const iterator = client.sync();
    for (let i = 0; i < 10; i++) await nextWithin(iterator);
    // The caller pauses: TCP fills its buffers and slapd has to wait.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const whilePaused = relay.forwarded;
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(
      relay.forwarded,
      whilePaused,
      "nothing more flows while paused",
    );
    let entries = 9;
    let members = 0;
    for (;;) {
      const message = await nextWithin(iterator);
      if (message === undefined) break;
      if (message.kind === "entry") {
        entries++;
        members += message.attributes.member.length;
      }
    }
    console.log(
      `paused after 10 messages with ${whilePaused} of ${relay.forwarded} bytes forwarded`,
    );
    assert.equal(entries, stack.data.workgroups);
    assert.ok(
      whilePaused < relay.forwarded / 2,
      `${whilePaused} of ${relay.forwarded} bytes were sent while the caller paused`,
    );
  } finally {
    await client.close();
    await relay.close();
    await handle.down();
  }
});

Deno.test("syncrepl client times out a bind that slapd does not answer and goes on once slapd answers", async () => {
  const handle = await startStack();
  const stack = handle.info;
  const retries: LdapError[] = [];
  let resumed: (() => void) | undefined;
  const client = new SyncClient({
    url: stack.ldap.url,
    bind: adminBind(stack),
    baseDN: stack.ldap.workgroupBase,
    scope: "one",
    mode: "refreshOnly",
    operationTimeout: 300,
    reconnect: { minDelay: 50, maxDelay: 100 },
    onRetry: (error) => {
      retries.push(error);
      resumed?.();
    },
  });
  // A stopped slapd still completes TCP handshakes (the kernel's backlog) but answers nothing.
  signal(stack.ldap.pid, "SIGSTOP");
  try {
    const firstRetry = new Promise<void>((resolve) => resumed = resolve);
    const messages: SyncMessage[] = [];
    const done = (async () => {
      for await (const message of client.sync()) messages.push(message);
    })();
    await firstRetry;
    signal(stack.ldap.pid, "SIGCONT");
    await done;
    assert.ok(retries[0] instanceof LdapConnectionError);
    assert.match(
      retries[0].message,
      /^Cannot read from the LDAP server as it did not send the response to the bind within 300 ms: server is ldap:\/\/127\.0\.0\.1:\d+$/,
    );
    assert.equal(
      messages.filter((m) => m.kind === "entry").length,
      stack.data.workgroups,
    );
  } finally {
    signal(stack.ldap.pid, "SIGCONT");
    await client.close();
    await handle.down();
  }
});
