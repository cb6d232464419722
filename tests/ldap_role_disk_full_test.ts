/**
 * wgsync-ldap on a full disk: its data directory is a small real tmpfs (in
 * a mount namespace of the role's own, `unshare -m`: the host's mounts are
 * untouched), filled up while the role follows the stack's real slapd. The
 * role must say what is wrong (the store's path, "no space left on device")
 * in its log and STATUS=, keep retrying, and once space is freed deliver
 * every change made meanwhile. Runs in `--stdout` mode.
 *
 * Needs: root, --allow-run (deno, unshare, nsenter, ldapadd, ldapmodify,
 * kill), --allow-read, --allow-write=/tmp, --allow-net, --allow-env.
 */

import assert from "node:assert/strict";
import type { WorkgroupEvent } from "../lib/events/mod.ts";
import { DatagramListener } from "./helpers/datagram_listener.ts";
import { container, ldapUtil } from "./helpers/ldap_admin.ts";
import {
  RoleProcess,
  until,
  withTempDir,
  writeRoleConfig,
} from "./helpers/ldap_role.ts";
import { getStack } from "./helpers/stack.ts";

Deno.test("wgsync-ldap on a full disk names the store and 'no space left on device' in its log and STATUS=, retries, and delivers every change once space is freed", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const { base, groups } = await container(stack, 1);
    const files = await writeRoleConfig(stack, dir, { base, noChannel: true });
    await Deno.mkdir(files.dataDir);
    const notify = new DatagramListener(`${dir}/notify`);
    const role = RoleProcess.start(stack, files, {
      args: ["--stdout"],
      notifySocket: `${dir}/notify`,
      dataTmpfsKiB: 4096,
    });
    try {
      await role.waitForLog(/Ready: running/);
      const store = `${files.dataDir}/store.sqlite`;
      // Fill the tmpfs (cat stops at ENOSPC).
      await role.inMountNamespace(`cat /dev/zero > "${files.dataDir}/fill"`);
      const added: string[] = [];
      const full = /Cannot write to the store .* as no space left on device/;
      for (let i = 0; i < 400 && !full.test(role.stderr); i++) {
        const member = `uid=full${i},${stack.ldap.peopleBase}`;
        await ldapUtil(
          stack,
          "ldapmodify",
          `dn: ${
            groups[0]
          }\nchangetype: modify\nadd: member\nmember: ${member}\n`,
        );
        added.push(member);
      }
      await role.waitForLog(
        new RegExp(
          `Cannot write to the store ${store} as no space left on device .*retrying in \\d+ s`,
        ),
      );
      await until(
        () =>
          notify.messages.some((m) =>
            m.includes(
              `cannot write the store ${store}: no space left on device`,
            )
          ),
        () => `STATUS= naming the full disk; got ${notify.messages.at(-1)}`,
      );
      // Changes go on while the disk is full.
      for (let i = 0; i < 5; i++) {
        const member = `uid=later${i},${stack.ldap.peopleBase}`;
        await ldapUtil(
          stack,
          "ldapmodify",
          `dn: ${
            groups[0]
          }\nchangetype: modify\nadd: member\nmember: ${member}\n`,
        );
        added.push(member);
      }
      assert.equal(
        await role.inMountNamespace(`rm "${files.dataDir}/fill"`),
        0,
      );
      await role.waitForLog(/The store .* can be written again/, 90_000);
      const delivered = () =>
        new Set(
          role.lines.map((line) => JSON.parse(line) as WorkgroupEvent)
            .filter((e) => e.type === "member.added")
            .map((e) => e.member!.dn),
        );
      await until(
        () => added.every((dn) => delivered().has(dn)),
        () =>
          `every member.added; missing ${
            added.filter((dn) => !delivered().has(dn))
          }\n${role.stderr}`,
        60_000,
      );
      assert.doesNotMatch(role.stderr, /cannot commit - no transaction/);
      await until(
        () => !notify.messages.at(-1)!.includes("no space left"),
        () => `STATUS= without the full disk; got ${notify.messages.at(-1)}`,
      );
      assert.equal(await role.stop(), 0, role.stderr);
    } finally {
      await role.kill();
      await notify.close();
    }
  });
});
