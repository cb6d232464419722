/**
 * wgsync-ldap across slapd restarts, on an isolated stack: after a restart
 * slapd has no session log and answers a stored cookie with a present phase
 * (the entries still there); the consumer must derive exactly the deletions
 * made while it was stopped. A restart while the role runs is followed by a
 * reconnect that resumes from the cookie.
 *
 * Needs: --allow-run (deno, ldapadd, ldapmodify, ldapdelete, ldapsearch,
 * kill), --allow-read, --allow-write=/tmp, --allow-net, --allow-env.
 */

import assert from "node:assert/strict";
import { reconstruct } from "./helpers/consumer.ts";
import { container, ldapUtil } from "./helpers/ldap_admin.ts";
import {
  brief,
  directoryMemberships,
  Receiver,
  RoleProcess,
  until,
  withTempDir,
  writeRoleConfig,
} from "./helpers/ldap_role.ts";
import { startStack } from "./helpers/stack.ts";

Deno.test("wgsync-ldap after a slapd restart derives exactly the deletions of the present phase, and resumes after a restart while running", async () => {
  const handle = await startStack({ groups: 1, members: 1, people: 10 });
  const stack = handle.info;
  try {
    await withTempDir(async (dir) => {
      const { base, groups } = await container(stack, 30);
      const stem = base.slice("ou=".length, base.indexOf(","));
      const files = await writeRoleConfig(stack, dir, { base });
      const receiver = await Receiver.listen(files.socket, files.keyFile);
      let role = RoleProcess.start(stack, files);
      try {
        await role.waitForLog(/Ready: running; 30 workgroups/);
        await until(() => receiver.events.length >= 30, "30 created events");
        assert.equal(await role.stop(), 0, role.stderr);
        const before = receiver.events.length;

        // While stopped: 2 of 30 deleted (under the guard's 10 %), one
        // member added; then slapd restarts and forgets its session log.
        await ldapUtil(stack, "ldapdelete", `${groups[3]}\n${groups[17]}\n`);
        const extra = `uid=extra,${stack.ldap.peopleBase}`;
        await ldapUtil(
          stack,
          "ldapmodify",
          `dn: ${
            groups[5]
          }\nchangetype: modify\nadd: member\nmember: ${extra}\n`,
        );
        await handle.restartSlapd();

        role = RoleProcess.start(stack, files);
        await role.waitForLog(/Ready: running; 28 workgroups/);
        await receiver.settle(1000);
        const after = receiver.events.slice(before).map(brief).sort();
        assert.deepEqual(after, [
          `member.added ${stem}:g5 ${extra}`,
          `workgroup.deleted ${stem}:g17`,
          `workgroup.deleted ${stem}:g3`,
        ]);
        // Without a session log slapd lists what is still there.
        assert.match(
          role.stderr,
          /Workgroup refresh complete \(present phase\): 28 workgroups, 2 deleted/,
        );

        // slapd restarts under the running role: it reconnects and resumes.
        await handle.restartSlapd();
        const late = `uid=late,${stack.ldap.peopleBase}`;
        await ldapUtil(
          stack,
          "ldapmodify",
          `dn: ${
            groups[6]
          }\nchangetype: modify\nadd: member\nmember: ${late}\n`,
        );
        await receiver.waitFor(
          (e) => e.type === "member.added" && e.member?.dn === late,
          "member.added after the reconnect",
          30_000,
        );
        await receiver.settle(1000);
        assert.equal(await role.stop(), 0, role.stderr);
        assert.match(role.stderr, /reconnecting in \d+ ms/);

        const rebuilt = reconstruct(receiver.events);
        const expected = await directoryMemberships(stack, base);
        assert.deepEqual(
          [...rebuilt.keys()].sort(),
          [...expected.keys()].sort(),
        );
        for (const [name, members] of expected) {
          assert.deepEqual(
            [...rebuilt.get(name)!].map((m) => m.toLowerCase()).sort(),
            [...members].sort(),
            name,
          );
        }
        const ids = receiver.events.map((e) => e.id);
        assert.equal(new Set(ids).size, ids.length, "an event was repeated");
      } finally {
        await role.kill();
        await receiver.close();
      }
    });
  } finally {
    await handle.down();
  }
});
