/**
 * wgsync-ldap's mass-deletion guard as the operator meets it: a refresh
 * deleting more than 10 % of the workgroups is refused and waits, and goes
 * through once with --accept-mass-delete.
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
import { DatagramListener } from "./helpers/datagram_listener.ts";
import { container, ldapUtil } from "./helpers/ldap_admin.ts";
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
