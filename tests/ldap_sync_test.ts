/**
 * The RFC 4533 sync client against the real slapd (syncprov with a session
 * log) of the shared local stack: every message kind from real changes made
 * with ldap-utils, resume from a stored cookie, cancel, refreshRequired.
 * Each test works in its own container entry, so tests do not see each
 * other's changes.
 *
 * Needs: --allow-run (the stack; ldapadd, ldapmodify, ldapmodrdn, ldapdelete,
 * ldapsearch), --allow-net=127.0.0.1, --allow-read and --allow-write (the
 * stack's temporary directory), --allow-env (WGSYNC_KEEP_STACK).
 */

import assert from "node:assert/strict";
import {
  closeSession,
  openSession,
  parseLdapUrl,
  SyncClient,
  type SyncMessage,
  SyncSearch,
} from "../lib/ldap/mod.ts";
import {
  adminBind,
  container,
  entryUUID,
  groupLdif,
  ldapUtil,
  nextWithin,
  readUntil,
} from "./helpers/ldap_admin.ts";
import { getStack } from "./helpers/stack.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const decoder = new TextDecoder();

const refreshDone = (message: SyncMessage) =>
  message.kind === "refreshEnd" && message.refreshDone;

Deno.test("syncrepl client refreshOnly returns every workgroup with its members, entryUUID and UTF-8 text", async () => {
  const stack = await getStack();
  const client = new SyncClient({
    url: stack.ldap.url,
    bind: adminBind(stack),
    baseDN: stack.ldap.workgroupBase,
    scope: "one",
    filter: "(objectClass=groupOfNames)",
    attributes: ["cn", "member", "description", "entryCSN"],
    mode: "refreshOnly",
  });
  const messages: SyncMessage[] = [];
  for await (const message of client.sync()) messages.push(message);
  await client.close();

  assert.deepEqual(messages[0], {
    kind: "start",
    reason: "initial",
    resumeCookie: undefined,
  });
  const last = messages.at(-1)!;
  assert.equal(last.kind, "refreshEnd");
  assert.ok(last.kind === "refreshEnd" && last.refreshDone);
  assert.match(decoder.decode(last.cookie), /csn=/);
  const entries = messages.filter((m) => m.kind === "entry");
  assert.equal(entries.length, stack.data.workgroups);
  assert.equal(entries.length, messages.length - 2);
  let members = 0;
  for (const entry of entries) {
    assert.equal(entry.state, "add");
    assert.match(entry.entryUUID, UUID);
    assert.equal(entry.attributes.cn.length, 1);
    assert.equal(entry.attributes.entrycsn.length, 1);
    members += entry.attributes.member.length;
  }
  assert.equal(members, stack.data.memberValues);
  const largest = entries.find((e) =>
    e.attributes.cn[0] === stack.data.largestWorkgroup
  )!;
  assert.equal(
    largest.attributes.member.length,
    stack.data.largestWorkgroupMembers,
  );
  assert.equal(largest.entryUUID, await entryUUID(stack, largest.dn));
  const nonAscii = entries.find((e) =>
    e.attributes.cn[0] === stack.data.nonAsciiWorkgroup
  )!;
  assert.deepEqual(nonAscii.attributes.description, [
    "Équipe de recherche — 研究",
  ]);
});

Deno.test("syncrepl client refreshAndPersist reports add, modify, modrdn and delete made with ldap-utils", async () => {
  const stack = await getStack();
  const { base, groups } = await container(stack, 2);
  const session = await openSession(parseLdapUrl(stack.ldap.url), {
    bind: adminBind(stack),
  });
  const search = await SyncSearch.start(session.connection, {
    baseDN: base,
    attributes: ["cn", "member"],
  });
  try {
    const refresh = await readUntil(search, refreshDone);
    const refreshEntries = refresh.filter((m) => m.kind === "entry");
    assert.deepEqual(
      refreshEntries.map((m) => m.dn).sort(),
      [base, ...groups].sort(),
    );
    for (const entry of refreshEntries) assert.equal(entry.cookie, undefined);
    const end = refresh.at(-1)!;
    assert.ok(end.kind === "refreshEnd" && end.cookie !== undefined);

    const people = stack.ldap.peopleBase;
    const added = `cn=added,${base}`;
    await ldapUtil(
      stack,
      "ldapadd",
      groupLdif(added, "added", [`uid=a,${people}`]),
    );
    const add = await nextWithin(search);
    assert.ok(add?.kind === "entry", JSON.stringify(add));
    assert.equal(add.state, "add");
    assert.equal(add.dn, added);
    assert.deepEqual(add.attributes.member, [`uid=a,${people}`]);
    assert.equal(add.entryUUID, await entryUUID(stack, added));
    assert.ok(add.cookie && add.cookie.length > 0);

    await ldapUtil(
      stack,
      "ldapmodify",
      `dn: ${added}\nchangetype: modify\nadd: member\nmember: uid=b,${people}\n`,
    );
    const modify = await nextWithin(search);
    assert.ok(modify?.kind === "entry", JSON.stringify(modify));
    assert.equal(modify.state, "modify");
    assert.equal(modify.entryUUID, add.entryUUID);
    assert.deepEqual(modify.attributes.member, [
      `uid=a,${people}`,
      `uid=b,${people}`,
    ]);
    assert.ok(modify.cookie);
    assert.notDeepEqual(modify.cookie, add.cookie);

    await ldapUtil(stack, "ldapmodrdn", `${added}\ncn=renamed\n`, ["-r"]);
    const rename = await nextWithin(search);
    assert.ok(rename?.kind === "entry", JSON.stringify(rename));
    assert.equal(rename.state, "modify");
    assert.equal(rename.dn, `cn=renamed,${base}`);
    assert.equal(rename.entryUUID, add.entryUUID);
    assert.deepEqual(rename.attributes.cn, ["renamed"]);

    const victim = await entryUUID(stack, groups[0]);
    await ldapUtil(stack, "ldapdelete", `${groups[0]}\n`);
    const deleted = await nextWithin(search);
    assert.ok(deleted?.kind === "entry", JSON.stringify(deleted));
    assert.equal(deleted.state, "delete");
    assert.equal(deleted.entryUUID, victim);
    assert.deepEqual(deleted.attributes, {});
    assert.ok(deleted.cookie);
  } finally {
    await search.cancel();
    await closeSession(session.connection);
  }
});

Deno.test("syncrepl client resumes from a stored cookie: changes as entries, deletions as an ID set from the session log", async () => {
  const stack = await getStack();
  const { base, groups } = await container(stack, 3);
  const options = {
    url: stack.ldap.url,
    bind: adminBind(stack),
    baseDN: base,
    attributes: ["cn", "member"],
    mode: "refreshOnly" as const,
  };
  let stored: Uint8Array | undefined;
  for await (const message of new SyncClient(options).sync()) {
    if (message.cookie) stored = message.cookie;
  }
  assert.ok(stored);

  const deletedUUID = await entryUUID(stack, groups[0]);
  await ldapUtil(stack, "ldapdelete", `${groups[0]}\n`);
  await ldapUtil(
    stack,
    "ldapmodify",
    `dn: ${
      groups[1]
    }\nchangetype: modify\nreplace: member\nmember: uid=new,${stack.ldap.peopleBase}\n`,
  );

  const client = new SyncClient({ ...options, cookie: stored });
  const messages: SyncMessage[] = [];
  for await (const message of client.sync()) messages.push(message);
  assert.deepEqual(messages[0], {
    kind: "start",
    reason: "initial",
    resumeCookie: stored,
  });
  const idSets = messages.filter((m) => m.kind === "idSet");
  assert.equal(idSets.length, 1);
  assert.deepEqual(idSets[0].entryUUIDs, [deletedUUID]);
  assert.equal(idSets[0].refreshDeletes, true);
  const entries = messages.filter((m) => m.kind === "entry");
  assert.deepEqual(entries.map((e) => e.dn), [groups[1]]);
  assert.deepEqual(entries[0].attributes.member, [
    `uid=new,${stack.ldap.peopleBase}`,
  ]);
  const end = messages.at(-1)!;
  assert.ok(end.kind === "refreshEnd");
  assert.equal(end.phase, "delete");
  assert.ok(end.refreshDone);
  assert.notDeepEqual(end.cookie, stored);
});

Deno.test("syncrepl client cancel ends a pending next() and leaves the connection usable", async () => {
  const stack = await getStack();
  const { base, groups } = await container(stack, 1);
  const session = await openSession(parseLdapUrl(stack.ldap.url), {
    bind: adminBind(stack),
  });
  try {
    const search = await SyncSearch.start(session.connection, { baseDN: base });
    await readUntil(search, refreshDone);
    const pending = search.next();
    await search.cancel();
    assert.deepEqual(await pending, { done: true, value: undefined });
    assert.equal(session.connection.closed, false);
    // The server finished the cancelled search: a new one on the same connection works.
    const again = await SyncSearch.start(session.connection, {
      baseDN: base,
      mode: "refreshOnly",
    });
    const messages = await readUntil(again, refreshDone);
    assert.deepEqual(
      messages.filter((m) => m.kind === "entry").map((m) => m.dn).sort(),
      [base, groups[0]].sort(),
    );
    assert.equal(await nextWithin(again), undefined);
  } finally {
    await closeSession(session.connection);
  }
});

Deno.test("syncrepl client close() cancels a persistent search that waits for changes", async () => {
  const stack = await getStack();
  const { base } = await container(stack, 1);
  const client = new SyncClient({
    url: stack.ldap.url,
    bind: adminBind(stack),
    baseDN: base,
  });
  const iterator = client.sync();
  await readUntil(iterator, refreshDone);
  const pending = iterator.next();
  await client.close();
  assert.deepEqual(await pending, { done: true, value: undefined });
  assert.deepEqual(await iterator.next(), { done: true, value: undefined });
});

Deno.test("syncrepl client reports refreshRequired when the search base is renamed and restarts with a full refresh", async () => {
  const stack = await getStack();
  const { base, groups } = await container(stack, 2);
  const ou = base.slice(3, base.indexOf(","));
  const client = new SyncClient({
    url: stack.ldap.url,
    bind: adminBind(stack),
    baseDN: base,
    attributes: ["cn", "member"],
    reconnect: { minDelay: 50, maxDelay: 200 },
    onRetry: (error) => retries.push(error),
  });
  const retries: unknown[] = [];
  const iterator = client.sync();
  try {
    const first = await readUntil(iterator, refreshDone);
    client.confirm(first.at(-1)!.cookie!);

    // slapd (syncprov) ends a persistent search with e-syncRefreshRequired
    // ("search base has changed") once its base entry was renamed.
    await ldapUtil(stack, "ldapmodrdn", `${base}\nou=${ou}-moved\n`, ["-r"]);
    const moved = groups[1].replace(
      base,
      `ou=${ou}-moved,${stack.ldap.suffix}`,
    );
    await ldapUtil(
      stack,
      "ldapmodify",
      `dn: ${moved}\nchangetype: modify\nadd: member\nmember: uid=x,${stack.ldap.peopleBase}\n`,
    );
    const untilRequired = await readUntil(
      iterator,
      (m) => m.kind === "refreshRequired",
    );
    assert.equal(untilRequired.at(-1)?.kind, "refreshRequired");
    assert.equal(client.confirmedCookie, undefined);

    // Put the base back before the client's next search (which reads on demand).
    await ldapUtil(
      stack,
      "ldapmodrdn",
      `ou=${ou}-moved,${stack.ldap.suffix}\nou=${ou}\n`,
      ["-r"],
    );
    const start = await nextWithin(iterator);
    assert.deepEqual(start, {
      kind: "start",
      reason: "refreshRequired",
      resumeCookie: undefined,
    });
    // The search had finished its refresh: reloading is no failure to back off from.
    assert.deepEqual(retries, []);
    const reload = await readUntil(iterator, refreshDone);
    assert.deepEqual(
      reload.filter((m) => m.kind === "entry").map((m) => m.dn).sort(),
      [base, ...groups].sort(),
    );
  } finally {
    await client.close();
  }
});

Deno.test("syncrepl client after refreshRequired leaves slapd able to write: 20 renames of the search base, each with a write right after it", async () => {
  // slapd 2.5.13 deadlocks a write that ends a persistent search with
  // refreshRequired when the client closes that connection at once (see
  // lib/ldap/client.ts); the client's next search starts at once here, as
  // in wgsync-ldap, and a hung write fails the test within 15 s.
  const stack = await getStack();
  const { base, groups } = await container(stack, 1);
  const ou = base.slice(3, base.indexOf(","));
  const movedBase = `ou=${ou}-moved,${stack.ldap.suffix}`;
  const client = new SyncClient({
    url: stack.ldap.url,
    bind: adminBind(stack),
    baseDN: base,
    attributes: ["cn", "member"],
    reconnect: { minDelay: 20, maxDelay: 100 },
  });
  const iterator = client.sync();
  try {
    await readUntil(iterator, refreshDone);
    for (let round = 0; round < 20; round++) {
      await ldapUtil(stack, "ldapmodrdn", `${base}\nou=${ou}-moved\n`, ["-r"]);
      // Read on while the write runs and search again as soon as the
      // refreshRequired arrives, as wgsync-ldap does.
      let restarted: Promise<IteratorResult<SyncMessage>> | undefined;
      const required = readUntil(iterator, (m) => m.kind === "refreshRequired")
        .then((messages) => {
          restarted = iterator.next();
          return messages;
        });
      await ldapUtil(
        stack,
        "ldapmodify",
        `dn: ${groups[0].replace(base, movedBase)}\nchangetype: modify\n` +
          `add: member\nmember: uid=r${round},${stack.ldap.peopleBase}\n`,
        [],
        { timeoutMs: 15_000 },
      );
      assert.equal((await required).at(-1)?.kind, "refreshRequired");
      await ldapUtil(stack, "ldapmodrdn", `${movedBase}\nou=${ou}\n`, ["-r"], {
        timeoutMs: 15_000,
      });
      assert.deepEqual((await restarted!).value, {
        kind: "start",
        reason: "refreshRequired",
        resumeCookie: undefined,
      });
      await readUntil(iterator, refreshDone);
    }
  } finally {
    await client.close();
  }
});
