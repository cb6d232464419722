/**
 * wgsync-ldap's data directory and store at start, against the shared local
 * stack (the role as a subprocess in `--stdout` mode): one wgsync-ldap per
 * data directory, private modes, a store that is merely locked is waited
 * for and never rebuilt, and moving the GSSAPI ticket cache is no new
 * identity.
 *
 * Needs: --allow-run (deno, ldapadd, kill), --allow-read,
 * --allow-write=/tmp, --allow-net, --allow-env.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { parseConfig } from "../lib/config/mod.ts";
import {
  formerStoreIdentities,
  identityFingerprint,
} from "../lib/wgsync_ldap/mod.ts";
import { container } from "./helpers/ldap_admin.ts";
import {
  type RoleFiles,
  RoleProcess,
  until,
  withTempDir,
  writeRoleConfig,
} from "./helpers/ldap_role.ts";
import { getStack, type StackInfo } from "./helpers/stack.ts";

/** Starts the role with --stdout and waits for READY. */
async function started(
  stack: StackInfo,
  files: RoleFiles,
): Promise<RoleProcess> {
  const role = RoleProcess.start(stack, files, { args: ["--stdout"] });
  try {
    await role.waitForLog(/Ready: running/);
  } catch (error) {
    await role.kill();
    throw error;
  }
  return role;
}

/** Runs the role until READY and `count` events, then stops it; returns its log. */
async function runOnce(
  stack: StackInfo,
  files: RoleFiles,
  count: number,
): Promise<{ log: string; lines: string[] }> {
  const role = await started(stack, files);
  try {
    await until(
      () => role.lines.length >= count,
      () => `${count} events; got ${role.lines.length}:\n${role.stderr}`,
    );
    assert.equal(await role.stop(), 0, role.stderr);
    return { log: role.stderr, lines: role.lines };
  } finally {
    await role.kill();
  }
}

function storeMeta(path: string, key: string): unknown {
  const db = new DatabaseSync(path);
  try {
    return db.prepare("SELECT value FROM meta WHERE key = ?").get(key)?.value;
  } finally {
    db.close();
  }
}

Deno.test("a second wgsync-ldap on the same data directory exits non-zero before READY, naming the first one's PID", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const { base } = await container(stack, 1);
    const files = await writeRoleConfig(stack, dir, { base, noChannel: true });
    const first = await started(stack, files);
    try {
      const second = RoleProcess.start(stack, files, { args: ["--stdout"] });
      try {
        // Before the lock it reported READY (and died on the first change).
        const outcome = await Promise.race([
          second.wait(),
          second.waitForLog(/Ready: running/).then(() => "READY"),
        ]);
        assert.equal(outcome, 1, second.stderr);
        assert.match(
          second.stderr,
          new RegExp(
            `Cannot start as another wgsync-ldap \\(PID ${first.pid}\\) holds the data directory: lock file is "${files.dataDir}/wgsync-ldap.lock"`,
          ),
        );
        assert.doesNotMatch(second.stderr, /Ready/);
      } finally {
        await second.kill();
      }
      assert.equal(await first.stop(), 0, first.stderr);
    } finally {
      await first.kill();
    }
  });
});

Deno.test("wgsync-ldap makes its data directory 0700 and its store files 0600", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const { base } = await container(stack, 1);
    const files = await writeRoleConfig(stack, dir, { base, noChannel: true });
    await Deno.mkdir(files.dataDir, { mode: 0o755 });
    await Deno.chmod(files.dataDir, 0o755);
    const role = await started(stack, files);
    try {
      const mode = async (path: string) =>
        ((await Deno.stat(path)).mode! & 0o777).toString(8);
      assert.equal(await mode(files.dataDir), "700");
      for (
        const name of ["store.sqlite", "store.sqlite-wal", "wgsync-ldap.lock"]
      ) {
        assert.equal(await mode(`${files.dataDir}/${name}`), "600", name);
      }
      assert.equal(await role.stop(), 0, role.stderr);
    } finally {
      await role.kill();
    }
  });
});

Deno.test("a store locked by another process is reported and waited for, never moved aside or rebuilt", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const { base } = await container(stack, 3);
    const files = await writeRoleConfig(stack, dir, { base, noChannel: true });
    await runOnce(stack, files, 3);
    const path = `${files.dataDir}/store.sqlite`;
    const holder = new DatabaseSync(path);
    holder.exec("PRAGMA locking_mode = EXCLUSIVE");
    holder.exec("BEGIN EXCLUSIVE");
    holder.exec("INSERT INTO meta (key, value) VALUES ('held', 1)");
    const role = RoleProcess.start(stack, files, { args: ["--stdout"] });
    try {
      await role.waitForLog(
        new RegExp(
          `Cannot open the store as it cannot be read now \\(database is locked\\); it was left as it is: path is "${path}"; retrying in \\d+ s`,
        ),
      );
      holder.exec("ROLLBACK");
      holder.close();
      await role.waitForLog(/Ready: running/);
      assert.doesNotMatch(role.stderr, /Rebuilding/);
      assert.deepEqual(role.lines, [], "no snapshot, no event");
      const names = [...Deno.readDirSync(files.dataDir)].map((e) => e.name);
      assert.deepEqual(names.filter((n) => n.includes(".old")), []);
      assert.equal(await role.stop(), 0, role.stderr);
    } finally {
      await role.kill();
      try {
        holder.close();
      } catch {
        // Closed already.
      }
    }
  });
});

Deno.test("moving the GSSAPI ticket cache keeps the store (no rebuild, no snapshots); a store of the former identity format is taken over", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const { base } = await container(stack, 3);
    const files = await writeRoleConfig(stack, dir, { base, noChannel: true });
    await runOnce(stack, files, 3);
    const path = `${files.dataDir}/store.sqlite`;
    const identity = storeMeta(path, "identity");

    const moved = `${dir}/moved.ccache`;
    await Deno.copyFile(stack.ccaches.ldapClient, moved);
    const toml = await Deno.readTextFile(files.config);
    assert.ok(toml.includes(stack.ccaches.ldapClient));
    await Deno.writeTextFile(
      files.config,
      toml.replaceAll(stack.ccaches.ldapClient, moved),
    );
    const second = await started(stack, files);
    try {
      assert.doesNotMatch(second.stderr, /Rebuilding/);
      assert.equal(await second.stop(), 0, second.stderr);
      assert.deepEqual(second.lines, []);
    } finally {
      await second.kill();
    }
    assert.equal(storeMeta(path, "identity"), identity);

    // As an earlier version left it: the identity named the cache's path.
    const ldap = parseConfig(await Deno.readTextFile(files.config), "t").ldap!;
    const db = new DatabaseSync(path);
    db.prepare("UPDATE meta SET value = ? WHERE key = 'identity'").run(
      identityFingerprint(formerStoreIdentities(ldap)[0]),
    );
    db.close();
    const third = await started(stack, files);
    try {
      assert.doesNotMatch(third.stderr, /Rebuilding/);
      assert.equal(await third.stop(), 0, third.stderr);
      assert.deepEqual(third.lines, []);
    } finally {
      await third.kill();
    }
    assert.equal(storeMeta(path, "identity"), identity);
  });
});
