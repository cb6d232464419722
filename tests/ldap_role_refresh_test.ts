/**
 * wgsync-ldap stopped during its first refresh of a large directory
 * (60,000 workgroups × 10 members, an isolated stack): SIGTERM stops it
 * cleanly within the stop deadline (STOPPING=1, no READY=1, exit 0), SIGKILL
 * loses nothing, and the next start completes the refresh; the events
 * delivered, de-duplicated by id, rebuild the directory exactly.
 *
 * Needs: --allow-run (deno, ldapsearch, kill), --allow-read,
 * --allow-write=/tmp, --allow-net, --allow-env.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { reconstruct } from "./helpers/consumer.ts";
import { DatagramListener } from "./helpers/datagram_listener.ts";
import {
  directoryMemberships,
  Receiver,
  RoleProcess,
  until,
  withTempDir,
  writeRoleConfig,
} from "./helpers/ldap_role.ts";
import { startStack } from "./helpers/stack.ts";

const GROUPS = 60_000;

/**
 * Waits until the store holds its first workgroups but at most a third: the
 * refresh commits in batches of 10,000, so most of it is still to come.
 */
async function duringRefresh(path: string, role: RoleProcess): Promise<void> {
  await until(
    () => {
      try {
        const db = new DatabaseSync(path, { readOnly: true });
        try {
          const row = db.prepare("SELECT count(*) AS n FROM workgroups").get();
          const n = Number(row?.n ?? 0);
          return n > 0 && n <= GROUPS / 3;
        } finally {
          db.close();
        }
      } catch {
        return false; // Not created yet.
      }
    },
    () => `a partly written store; log:\n${role.stderr}`,
    60_000,
  );
}

Deno.test(`wgsync-ldap stopped by SIGTERM and SIGKILL during the first refresh of ${GROUPS} workgroups stops cleanly and loses nothing`, async () => {
  const handle = await startStack({ groups: GROUPS, members: 10, people: 100 });
  const stack = handle.info;
  try {
    await withTempDir(async (dir) => {
      const files = await writeRoleConfig(stack, dir);
      const receiver = await Receiver.listen(files.socket, files.keyFile);
      const notify = new DatagramListener(`${dir}/notify`);
      let role = RoleProcess.start(stack, files, {
        notifySocket: `${dir}/notify`,
      });
      try {
        await duringRefresh(`${files.dataDir}/store.sqlite`, role);
        const stopping = performance.now();
        assert.equal(await role.stop(), 0, role.stderr);
        const stopMs = Math.round(performance.now() - stopping);
        assert.ok(
          !/Workgroup refresh complete/.test(role.stderr),
          "the refresh finished before SIGTERM: nothing was interrupted",
        );
        assert.ok(notify.messages.some((m) => m.includes("STOPPING=1")));
        assert.ok(!notify.messages.some((m) => m.includes("READY=1")));

        // The store now holds part of the workgroups and no cookie: the next
        // start refreshes in full again; kill it at some point of that.
        role = RoleProcess.start(stack, files);
        await role.waitForLog(/People refresh complete/);
        await new Promise((resolve) =>
          setTimeout(resolve, 100 + Math.random() * 400)
        );
        await role.kill();

        role = RoleProcess.start(stack, files);
        await role.waitForLog(
          new RegExp(`Ready: running; ${GROUPS} workgroups`),
          60_000,
        );
        await receiver.settle(1500, 120_000);
        assert.equal(await role.stop(), 0, role.stderr);

        const rebuilt = reconstruct(receiver.events);
        const expected = await directoryMemberships(
          stack,
          stack.ldap.workgroupBase,
        );
        assert.equal(rebuilt.size, GROUPS);
        assert.equal(expected.size, GROUPS);
        for (const [name, members] of expected) {
          assert.deepEqual(
            [...(rebuilt.get(name) ?? [])].map((m) => m.toLowerCase()).sort(),
            [...members].sort(),
            name,
          );
        }
        console.log(
          `SIGTERM during the refresh: stopped in ${stopMs} ms; ${receiver.events.length} events delivered for ${GROUPS} workgroups`,
        );
      } finally {
        await role.kill();
        await receiver.close();
        await notify.close();
      }
    });
  } finally {
    await handle.down();
  }
});
