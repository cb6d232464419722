/**
 * wgsync-ldap's events for real directory changes: add, modify, modrdn,
 * delete and re-create with READY=1, STATUS= and STOPPING=1, and a
 * 5,000-member modify.
 *
 * wgsync-ldap end to end: the role runs as a subprocess with exactly its
 * permissions (plus the test's directories) against the shared local stack
 * (real slapd with syncprov, StartTLS + SASL/GSSAPI through the k5start
 * ticket cache, MIT Kerberos), changes are made with ldap-utils, and a real
 * ChannelServer (the Event Generator's end of the channel) receives the
 * events. Each test follows its own container entry of the directory.
 *
 * Needs: --allow-run (deno, ldapadd, ldapmodify, ldapmodrdn, ldapdelete,
 * ldapsearch, kill), --allow-read, --allow-write=/tmp, --allow-net
 * (127.0.0.1 and unix sockets), --allow-env.
 */

import assert from "node:assert/strict";
import type { WorkgroupEvent } from "../lib/events/mod.ts";
import { DatagramListener } from "./helpers/datagram_listener.ts";
import { container, groupLdif, ldapUtil } from "./helpers/ldap_admin.ts";
import {
  brief,
  hasLine,
  Receiver,
  RoleProcess,
  stemOf,
  until,
  withTempDir,
  writeRoleConfig,
} from "./helpers/ldap_role.ts";
import { getStack } from "./helpers/stack.ts";

function assertSeqIncreasing(events: WorkgroupEvent[]): void {
  const last = new Map<string, number>();
  for (const event of events) {
    const before = last.get(event.workgroup);
    if (before !== undefined) {
      assert.ok(
        event.seq > before,
        `seq went back for ${event.workgroup}: ${before} then ${event.seq}`,
      );
    }
    last.set(event.workgroup, event.seq);
  }
}

Deno.test("wgsync-ldap sends an event for each real add, modify, modrdn, delete and re-create, and reports READY=1, STATUS= and STOPPING=1", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const { base, groups } = await container(stack, 2);
    const stem = stemOf(base);
    const people = stack.ldap.peopleBase;
    const files = await writeRoleConfig(stack, dir, { base });
    const receiver = await Receiver.listen(files.socket, files.keyFile);
    const notify = new DatagramListener(`${dir}/notify`);
    const role = RoleProcess.start(stack, files, {
      notifySocket: `${dir}/notify`,
      env: { WATCHDOG_USEC: "400000" },
    });
    try {
      await until(
        () => notify.messages.some(hasLine("READY=1")),
        () => `READY=1; got ${JSON.stringify(notify.messages)}\n${role.stderr}`,
      );
      const readyAt = notify.messages.findIndex(hasLine("READY=1"));
      const ready = notify.messages[readyAt];
      assert.match(
        ready,
        /STATUS=running; 2 workgroups, outbox \d+, last change \d+ s ago, channel 4\/4 up/,
      );
      assert.ok(
        notify.messages.slice(0, readyAt).some((m) =>
          /^EXTEND_TIMEOUT_USEC=\d+$/.test(m)
        ),
        `no EXTEND_TIMEOUT_USEC before READY=1: ${
          JSON.stringify(notify.messages)
        }`,
      );

      const created0 = await receiver.waitFor(
        (e) => e.type === "workgroup.created" && e.workgroup === `${stem}:g0`,
        "workgroup.created of g0",
      );
      assert.equal(created0.stem, stem);
      assert.equal(created0.v, 1);
      assert.match(created0.id, /^[0-9a-f]{64}$/);
      assert.deepEqual(created0.members, [
        { dn: `uid=m0,${people}`, id: "m0", uid: null },
      ]);
      await receiver.waitFor(
        (e) => e.type === "workgroup.created" && e.workgroup === `${stem}:g1`,
        "workgroup.created of g1",
      );

      // A member who is a real person: uid and employeeNumber come from the
      // people search.
      const person = `uid=u000007,${people}`;
      await ldapUtil(
        stack,
        "ldapmodify",
        `dn: ${
          groups[0]
        }\nchangetype: modify\nadd: member\nmember: ${person}\n`,
      );
      const added = await receiver.waitFor(
        (e) => e.type === "member.added" && e.workgroup === `${stem}:g0`,
        "member.added",
      );
      assert.deepEqual(added.member, {
        dn: person,
        id: "100007",
        uid: "u000007",
      });
      assert.ok(added.seq > created0.seq);

      await ldapUtil(
        stack,
        "ldapmodify",
        `dn: ${
          groups[0]
        }\nchangetype: modify\ndelete: member\nmember: uid=m0,${people}\n`,
      );
      const removed = await receiver.waitFor(
        (e) => e.type === "member.removed" && e.workgroup === `${stem}:g0`,
        "member.removed",
      );
      assert.deepEqual(removed.member, {
        dn: `uid=m0,${people}`,
        id: "m0",
        uid: null,
      });

      const renamedName = `${stem}:renamed`;
      const renamedDn = `cn=${renamedName},${base}`;
      await ldapUtil(stack, "ldapmodrdn", `${groups[1]}\ncn=${renamedName}\n`, [
        "-r",
      ]);
      const renamed = await receiver.waitFor(
        (e) => e.type === "workgroup.renamed",
        "workgroup.renamed",
      );
      assert.equal(renamed.workgroup, renamedName);
      assert.equal(renamed.previous, `${stem}:g1`);

      await ldapUtil(stack, "ldapdelete", `${renamedDn}\n`);
      const deleted = await receiver.waitFor(
        (e) => e.type === "workgroup.deleted" && e.workgroup === renamedName,
        "workgroup.deleted",
      );
      // The same name again: a new entry (new entryUUID), a new created event.
      await ldapUtil(
        stack,
        "ldapadd",
        groupLdif(renamedDn, renamedName, [person]),
      );
      const recreated = await receiver.waitFor(
        (e) => e.type === "workgroup.created" && e.workgroup === renamedName,
        "workgroup.created of the re-created name",
      );
      assert.deepEqual(recreated.members, [
        { dn: person, id: "100007", uid: "u000007" },
      ]);
      assert.ok(
        receiver.events.indexOf(recreated) > receiver.events.indexOf(deleted),
      );
      assert.ok(recreated.seq > deleted.seq);

      // STATUS= keeps being refreshed after READY=1 (interval 1 s here).
      const statuses = () =>
        notify.messages.slice(readyAt + 1).filter((m) =>
          m.startsWith("STATUS=")
        );
      await until(() => statuses().length >= 2, "periodic STATUS=");
      assert.match(
        statuses().at(-1)!,
        /^STATUS=running; 2 workgroups, outbox \d+, last change \d+ s ago, channel 4\/4 up$/,
      );

      // Keep-alives every half WATCHDOG_USEC while healthy.
      assert.ok(
        notify.messages.filter(hasLine("WATCHDOG=1")).length >= 3,
        JSON.stringify(notify.messages),
      );
      assert.equal(await role.stop(), 0, role.stderr);
      assert.ok(
        notify.messages.some(hasLine("STOPPING=1")),
        JSON.stringify(notify.messages),
      );
      const ids = receiver.events.map((e) => e.id);
      assert.equal(
        new Set(ids).size,
        ids.length,
        `an event arrived twice: ${JSON.stringify(receiver.events.map(brief))}`,
      );
      assert.deepEqual(
        receiver.events.map((e) => e.type).sort(),
        [
          "member.added",
          "member.removed",
          "workgroup.created",
          "workgroup.created",
          "workgroup.created",
          "workgroup.deleted",
          "workgroup.renamed",
        ],
      );
      assertSeqIncreasing(receiver.events);
    } finally {
      await role.kill();
      await receiver.close();
      await notify.close();
    }
  });
});

Deno.test("wgsync-ldap turns a 5,000-member modify into 5,000 member.added events", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const { base, groups } = await container(stack, 1);
    const stem = stemOf(base);
    const files = await writeRoleConfig(stack, dir, { base });
    const receiver = await Receiver.listen(files.socket, files.keyFile);
    const role = RoleProcess.start(stack, files);
    try {
      await role.waitForLog(/Ready: running; 1 workgroups/);
      const members = Array.from(
        { length: 5000 },
        (_, i) => `uid=big${i},${stack.ldap.peopleBase}`,
      );
      await ldapUtil(
        stack,
        "ldapmodify",
        `dn: ${groups[0]}\nchangetype: modify\nadd: member\n${
          members.map((m) => `member: ${m}\n`).join("")
        }`,
      );
      const isAdded = (e: WorkgroupEvent) =>
        e.type === "member.added" && e.workgroup === `${stem}:g0`;
      await until(
        () => receiver.events.filter(isAdded).length >= 5000,
        "5,000 member.added events",
        60_000,
      );
      await receiver.settle(500);
      const added = receiver.events.filter(isAdded);
      assert.equal(added.length, 5000);
      assert.deepEqual(
        new Set(added.map((e) => e.member!.dn)),
        new Set(members),
      );
      assert.equal(new Set(added.map((e) => e.id)).size, 5000);
      assert.ok(!receiver.events.some((e) => e.type === "member.removed"));
      assertSeqIncreasing(receiver.events);
      assert.equal(await role.stop(), 0, role.stderr);
    } finally {
      await role.kill();
      await receiver.close();
    }
  });
});
