/**
 * wgsync-ldap's event ids against the stack's real slapd: every change gets
 * an id of its own, and the id is derived from directory facts only, so two
 * consumers with stores of their own agree on it (SNS FIFO de-duplicates an
 * active-active pair by these ids). The roles run as subprocesses in
 * `--stdout` mode.
 *
 * Needs: --allow-run (deno, ldapadd, ldapmodrdn, ldapsearch, kill),
 * --allow-read, --allow-write=/tmp, --allow-net, --allow-env.
 */

import assert from "node:assert/strict";
import type { WorkgroupEvent } from "../lib/events/mod.ts";
import { container, ldapUtil } from "./helpers/ldap_admin.ts";
import {
  RoleProcess,
  until,
  withTempDir,
  writeRoleConfig,
} from "./helpers/ldap_role.ts";
import { getStack } from "./helpers/stack.ts";

Deno.test("a workgroup moved out of the search base and back twice gets two workgroup.deleted events with distinct ids, the same in two independent stores", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const { base, groups } = await container(stack, 2);
    const ou = base.slice("ou=".length, base.indexOf(","));
    const outside = `ou=${ou}-outside,${stack.ldap.suffix}`;
    await ldapUtil(
      stack,
      "ldapadd",
      `dn: ${outside}\nobjectClass: organizationalUnit\nou: ${ou}-outside\n\n`,
    );
    const rdn = groups[0].slice(0, groups[0].indexOf(","));
    const name = `${ou}:g0`;
    const roles: RoleProcess[] = [];
    try {
      for (const consumer of ["a", "b"]) {
        await Deno.mkdir(`${dir}/${consumer}`);
        const files = await writeRoleConfig(stack, `${dir}/${consumer}`, {
          base,
          noChannel: true,
          threshold: 0.5,
        });
        roles.push(RoleProcess.start(stack, files, { args: ["--stdout"] }));
      }
      for (const role of roles) await role.waitForLog(/Ready: running/);
      const events = (role: RoleProcess): WorkgroupEvent[] =>
        role.lines.map((line) => JSON.parse(line) as WorkgroupEvent)
          .filter((event) => event.workgroup === name);
      const waitForAll = async (type: string, count: number) => {
        for (const role of roles) {
          await until(
            () => events(role).filter((e) => e.type === type).length >= count,
            () =>
              `${count} ${type} of ${name}; got ${
                JSON.stringify(events(role).map((e) => e.type))
              }\n${role.stderr}`,
          );
        }
      };
      for (let round = 1; round <= 2; round++) {
        await ldapUtil(stack, "ldapmodrdn", `${groups[0]}\n${rdn}\n`, [
          "-s",
          outside,
        ]);
        await waitForAll("workgroup.deleted", round);
        await ldapUtil(stack, "ldapmodrdn", `${rdn},${outside}\n${rdn}\n`, [
          "-s",
          base,
        ]);
        await waitForAll("workgroup.created", round + 1);
      }
      const [a, b] = roles.map((role) =>
        events(role).map((e) => `${e.type} ${e.id}`)
      );
      const deletions = a.filter((line) =>
        line.startsWith("workgroup.deleted")
      );
      assert.equal(
        new Set(deletions).size,
        2,
        `the two deletions share an id: ${JSON.stringify(deletions)}`,
      );
      assert.equal(new Set(a).size, a.length, `an id repeats: ${a}`);
      assert.deepEqual(b, a);
      for (const role of roles) assert.equal(await role.stop(), 0);
    } finally {
      for (const role of roles) await role.kill();
    }
  });
});
