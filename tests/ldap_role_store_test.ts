/**
 * wgsync-ldap's store across runs: a store built for another search, or one
 * that is corrupt, is moved aside and rebuilt from a full refresh, and a
 * snapshot of every workgroup follows (instead of created events) so
 * downstream can reconcile. Runs in `--stdout` mode against the shared
 * local stack.
 *
 * Needs: --allow-run (deno, ldapadd, ldapsearch, kill), --allow-read,
 * --allow-write=/tmp, --allow-net, --allow-env.
 */

import assert from "node:assert/strict";
import type { WorkgroupEvent } from "../lib/events/mod.ts";
import { container } from "./helpers/ldap_admin.ts";
import {
  type RoleFiles,
  RoleProcess,
  until,
  withTempDir,
  writeRoleConfig,
} from "./helpers/ldap_role.ts";
import { getStack, type StackInfo } from "./helpers/stack.ts";

/** Runs the role with --stdout until `count` events were printed; returns them and its log. */
async function runUntil(
  stack: StackInfo,
  files: RoleFiles,
  count: number,
): Promise<{ events: WorkgroupEvent[]; log: string }> {
  const role = RoleProcess.start(stack, files, { args: ["--stdout"] });
  try {
    await role.waitForLog(/Ready: running/);
    await until(
      () => role.lines.length >= count,
      () => `${count} events; got ${role.lines.length}:\n${role.stderr}`,
    );
    assert.equal(await role.stop(), 0, role.stderr);
    return { events: role.lines.map((l) => JSON.parse(l)), log: role.stderr };
  } finally {
    await role.kill();
  }
}

function summary(events: WorkgroupEvent[]): string[] {
  return events.map((e) => `${e.type} ${e.workgroup} ${e.members?.length}`)
    .sort();
}

Deno.test("wgsync-ldap rebuilds a store built for another search and sends a snapshot of every workgroup", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const { base } = await container(stack, 3);
    const stem = base.slice("ou=".length, base.indexOf(","));
    let files = await writeRoleConfig(stack, dir, { base, noChannel: true });
    const first = await runUntil(stack, files, 3);
    assert.deepEqual(
      summary(first.events),
      [0, 1, 2].map((i) => `workgroup.created ${stem}:g${i} 1`),
    );
    files = await writeRoleConfig(stack, dir, {
      base,
      noChannel: true,
      filter: "(&(objectClass=groupOfNames)(cn=*))",
    });
    const second = await runUntil(stack, files, 3);
    assert.match(
      second.log,
      /Rebuilding the store .* as the store was built for another search base, filter or bind identity/,
    );
    assert.deepEqual(
      summary(second.events),
      [0, 1, 2].map((i) => `workgroup.snapshot ${stem}:g${i} 1`),
    );
    // Each snapshot's seq is above the workgroup's earlier events.
    for (const snapshot of second.events) {
      const created = first.events.find((e) =>
        e.workgroup === snapshot.workgroup
      )!;
      assert.ok(snapshot.seq > created.seq);
    }
  });
});

Deno.test("wgsync-ldap rebuilds a corrupt store and sends a snapshot of every workgroup", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const { base } = await container(stack, 3);
    const stem = base.slice("ou=".length, base.indexOf(","));
    const files = await writeRoleConfig(stack, dir, { base, noChannel: true });
    await runUntil(stack, files, 3);
    const path = `${files.dataDir}/store.sqlite`;
    const bytes = await Deno.readFile(path);
    assert.ok(bytes.length > 8192, `store is only ${bytes.length} bytes`);
    // Garbage over everything after the first page: the pages of every table.
    bytes.fill(0xa5, 8192);
    await Deno.writeFile(path, bytes);
    const second = await runUntil(stack, files, 3);
    assert.match(second.log, /Rebuilding the store/);
    assert.deepEqual(
      summary(second.events),
      [0, 1, 2].map((i) => `workgroup.snapshot ${stem}:g${i} 1`),
    );
  });
});

Deno.test("wgsync-ldap without a [channel] section and without --stdout exits 78 naming the missing section", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const files = await writeRoleConfig(stack, dir, { noChannel: true });
    const role = RoleProcess.start(stack, files);
    try {
      assert.equal(await role.wait(), 78);
      assert.match(
        role.stderr,
        /key "channel" expected a \[channel\] section, found none/,
      );
    } finally {
      await role.kill();
    }
  });
});
