/**
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
import { writeKey } from "./helpers/channel.ts";
import { DatagramListener } from "./helpers/datagram_listener.ts";
import { container, groupLdif, ldapUtil } from "./helpers/ldap_admin.ts";
import {
  brief,
  Receiver,
  RoleProcess,
  until,
  withTempDir,
  writeRoleConfig,
} from "./helpers/ldap_role.ts";
import { getStack } from "./helpers/stack.ts";

const hasLine = (line: string) => (message: string) =>
  message.split("\n").includes(line);

function stemOf(base: string): string {
  return base.slice("ou=".length, base.indexOf(","));
}

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

Deno.test("wgsync-ldap --stdout prints events as JSON lines, and a restart resumes from the cookie without repeating any", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const { base, groups } = await container(stack, 3);
    const stem = stemOf(base);
    // One of 3 deleted is above the default guard threshold: allow it here.
    const files = await writeRoleConfig(stack, dir, {
      base,
      noChannel: true,
      threshold: 0.5,
    });
    let role = RoleProcess.start(stack, files, { args: ["--stdout"] });
    try {
      await role.waitForLog(/Ready: running; 3 workgroups/);
      await until(() => role.lines.length >= 3, "3 lines on stdout");
      const first = role.lines.map((line) => JSON.parse(line));
      assert.deepEqual(
        first.map((e) => `${e.type} ${e.workgroup}`).sort(),
        [0, 1, 2].map((i) => `workgroup.created ${stem}:g${i}`),
      );
      assert.equal(await role.stop(), 0, role.stderr);
      assert.equal(first.length, role.lines.length);
      assert.match(role.stderr, /Stopped; 0 events remain in the outbox/);

      // Changes while the role is down.
      await ldapUtil(
        stack,
        "ldapmodify",
        `dn: ${
          groups[0]
        }\nchangetype: modify\nadd: member\nmember: uid=extra,${stack.ldap.peopleBase}\n`,
      );
      await ldapUtil(stack, "ldapdelete", `${groups[2]}\n`);

      role = RoleProcess.start(stack, files, { args: ["--stdout"] });
      await role.waitForLog(/Ready: running; 2 workgroups/);
      await until(() => role.lines.length >= 2, "2 lines after the restart");
      // Give a repeated event time to show up before judging.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const second = role.lines.map((line) => JSON.parse(line));
      assert.deepEqual(
        second.map((e) => `${e.type} ${e.workgroup}`).sort(),
        [`member.added ${stem}:g0`, `workgroup.deleted ${stem}:g2`],
      );
      assert.match(role.stderr, /resuming from the stored cookie/);
      // The session log lists the deletion: no present phase needed.
      assert.match(
        role.stderr,
        /Workgroup refresh complete \(delete phase\): 2 workgroups, 1 deleted/,
      );
      assert.equal(await role.stop(), 0, role.stderr);
    } finally {
      await role.kill();
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

Deno.test("wgsync-ldap with a wrong channel key is refused, sends nothing, never reports READY=1 and never logs the key", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const { base } = await container(stack, 1);
    const files = await writeRoleConfig(stack, dir, { base });
    const other = await writeKey(dir, "other.key");
    const receiver = await Receiver.listen(files.socket, other.path);
    const notify = new DatagramListener(`${dir}/notify`);
    const role = RoleProcess.start(stack, files, {
      notifySocket: `${dir}/notify`,
    });
    try {
      await role.waitForLog(/authentication failed/);
      await role.waitForLog(
        /Workgroup refresh complete \(\w+ phase\): 1 workgroups/,
      );
      await until(() => receiver.stats.refused >= 1, "a refused connection");
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.equal(receiver.events.length, 0);
      assert.equal(receiver.stats.authenticated, 0);
      assert.ok(!notify.messages.some(hasLine("READY=1")));
      assert.ok(
        notify.messages.some((m) =>
          /STATUS=first refresh done; waiting for the channel/.test(m)
        ),
        JSON.stringify(notify.messages),
      );
      assert.equal(await role.stop(), 0, role.stderr);
      const key = (await Deno.readTextFile(files.keyFile)).trim();
      assert.ok(!role.stderr.includes(key), "the auth key was logged");
      assert.ok(!role.stderr.includes(other.text), "the other key was logged");
    } finally {
      await role.kill();
      await receiver.close();
      await notify.close();
    }
  });
});

Deno.test("wgsync-ldap refuses a refresh deleting more than 10 % of the workgroups, keeps waiting, and applies it once with --accept-mass-delete", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const { base, groups } = await container(stack, 20);
    const stem = stemOf(base);
    const files = await writeRoleConfig(stack, dir, { base });
    const receiver = await Receiver.listen(files.socket, files.keyFile);
    let role = RoleProcess.start(stack, files);
    const notify = new DatagramListener(`${dir}/notify`);
    try {
      await role.waitForLog(/Ready: running; 20 workgroups/);
      await until(() => receiver.events.length >= 20, "20 created events");
      assert.equal(await role.stop(), 0, role.stderr);

      // 3 of 20 (15 %) deleted while the role is stopped.
      await ldapUtil(stack, "ldapdelete", groups.slice(0, 3).join("\n") + "\n");
      role = RoleProcess.start(stack, files, {
        notifySocket: `${dir}/notify`,
      });
      await role.waitForLog(
        /Refusing a refresh that would delete 3 of 20 workgroups \(15\.0 %, above the threshold of 10\.0 %\)/,
      );
      assert.match(role.stderr, /FATAL wgsync\.ldap: Refusing/);
      await until(
        () => notify.messages.some((m) => m.includes("STATUS=REFUSED")),
        "STATUS=REFUSED",
      );
      // It waits: still running, nothing deleted, not ready.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.ok(
        !receiver.events.some((e) => e.type === "workgroup.deleted"),
        JSON.stringify(receiver.events.map(brief)),
      );
      assert.ok(!notify.messages.some(hasLine("READY=1")));
      assert.equal(await role.stop(), 0, role.stderr);

      role = RoleProcess.start(stack, files, {
        args: ["--accept-mass-delete"],
      });
      await role.waitForLog(/Ready: running; 17 workgroups/);
      assert.match(role.stderr, /as --accept-mass-delete allowed it once/);
      await until(
        () =>
          receiver.events.filter((e) => e.type === "workgroup.deleted")
            .length >= 3,
        "3 workgroup.deleted events",
      );
      await receiver.settle(500);
      assert.deepEqual(
        receiver.events.filter((e) => e.type === "workgroup.deleted")
          .map((e) => e.workgroup).sort(),
        [0, 1, 2].map((i) => `${stem}:g${i}`),
      );
      assert.equal(await role.stop(), 0, role.stderr);
    } finally {
      await role.kill();
      await receiver.close();
      await notify.close();
    }
  });
});

Deno.test("wgsync-ldap sends over TCP on loopback when the channel is configured with tcp", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const { base } = await container(stack, 2);
    const stem = stemOf(base);
    const key = await writeKey(dir, "tcp.key");
    const receiver = await Receiver.listen(
      { transport: "tcp", hostname: "127.0.0.1", port: 0 },
      key.path,
    );
    const address = receiver.address;
    assert.ok(address.transport === "tcp");
    const files = await writeRoleConfig(stack, dir, {
      base,
      tcp: `127.0.0.1:${address.port}`,
      connections: 2,
    });
    // The receiver's key goes where the configuration names the key file.
    await Deno.copyFile(key.path, files.keyFile);
    const role = RoleProcess.start(stack, files);
    try {
      await role.waitForLog(/Ready: running; 2 workgroups, .*channel 2\/2 up/);
      await until(() => receiver.events.length >= 2, "2 created events");
      assert.deepEqual(
        receiver.events.map((e) => `${e.type} ${e.workgroup}`).sort(),
        [`workgroup.created ${stem}:g0`, `workgroup.created ${stem}:g1`],
      );
      assert.equal(await role.stop(), 0, role.stderr);
    } finally {
      await role.kill();
      await receiver.close();
    }
  });
});

Deno.test("wgsync-ldap reports READY=1 only once the channel is up, then delivers what the refresh produced", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const { base } = await container(stack, 2);
    const files = await writeRoleConfig(stack, dir, { base });
    const notify = new DatagramListener(`${dir}/notify`);
    const role = RoleProcess.start(stack, files, {
      notifySocket: `${dir}/notify`,
    });
    let receiver: Receiver | undefined;
    try {
      // Nothing listens on the channel socket yet.
      await role.waitForLog(/Workgroup refresh complete/);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.ok(!notify.messages.some(hasLine("READY=1")));
      assert.ok(
        notify.messages.some((m) =>
          /^STATUS=first refresh done; waiting for the channel; 2 workgroups, outbox 2,/
            .test(m)
        ),
        JSON.stringify(notify.messages),
      );
      receiver = await Receiver.listen(files.socket, files.keyFile);
      await until(
        () => notify.messages.some(hasLine("READY=1")),
        () => `READY=1; got ${JSON.stringify(notify.messages)}`,
      );
      await until(() => receiver!.events.length >= 2, "2 created events");
      assert.equal(await role.stop(), 0, role.stderr);
    } finally {
      await role.kill();
      await receiver?.close();
      await notify.close();
    }
  });
});
