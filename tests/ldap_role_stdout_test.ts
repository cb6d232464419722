/**
 * wgsync-ldap --stdout: events as JSON lines, and a restart resumes from the
 * cookie without repeating any.
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
import { container, ldapUtil } from "./helpers/ldap_admin.ts";
import {
  RoleProcess,
  stemOf,
  until,
  withTempDir,
  writeRoleConfig,
} from "./helpers/ldap_role.ts";
import { getStack } from "./helpers/stack.ts";

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
