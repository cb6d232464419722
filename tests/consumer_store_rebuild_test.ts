/**
 * When the consumer's store is rebuilt, and when never: another identity,
 * schema version, a failed integrity check, a file that is not a database
 * (each moved aside under a name of its own), but not a locked store.
 *
 * Store tests on a real node:sqlite database in a temporary directory.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  identityFingerprint,
  openStore,
  SCHEMA_VERSION,
  WorkgroupApplier,
} from "../lib/wgsync_ldap/mod.ts";
import { group, outbox, person, refreshEnd, uuid } from "./helpers/consumer.ts";
import { identity, populate, withDir } from "./helpers/consumer_store.ts";

Deno.test("a store built for another base, filter or bind identity is moved aside and rebuilt", async () => {
  await withDir((dir) => {
    const path = `${dir}/store.sqlite`;
    populate(path, 3);
    const { store, rebuilt, movedTo } = openStore(path, {
      identity: { ...identity, bind: "ldap/other@EXAMPLE.ORG" },
    });
    assert.match(rebuilt ?? "", /another search base, filter or bind identity/);
    assert.match(movedTo ?? "", /\/store\.sqlite\.old-\d{8}T\d{9}Z$/);
    assert.equal(
      store.cookie("workgroups"),
      undefined,
      "a rebuilt store needs a full refresh",
    );
    assert.equal(
      store.snapshotPending,
      true,
      "and then a snapshot of every workgroup",
    );
    assert.equal(store.workgroupCount(), 0);
    assert.ok(
      Deno.statSync(movedTo!).isFile,
      "the old store is kept aside",
    );
    store.close();
    // The full refresh into the rebuilt store emits snapshots, not created events.
    const reopened = openStore(path, {
      identity: { ...identity, bind: "ldap/other@EXAMPLE.ORG" },
    });
    assert.equal(reopened.rebuilt, undefined);
    const applier = new WorkgroupApplier(reopened.store);
    applier.beginSearch();
    applier.apply(group("add", 1, "s:g1", [person("u1")], 1));
    applier.apply(group("add", 2, "s:g2", [person("u2")], 2));
    applier.apply(refreshEnd("present", 2));
    assert.deepEqual(outbox(reopened.store).map((e) => e.type), [
      "workgroup.snapshot",
      "workgroup.snapshot",
    ]);
    assert.equal(reopened.store.snapshotPending, false);
    reopened.store.close();
  });
});

Deno.test("the identity fingerprint ignores key order but not values", () => {
  assert.equal(
    identityFingerprint({ a: 1, b: { c: 2, d: 3 } }),
    identityFingerprint({ b: { d: 3, c: 2 }, a: 1 }),
  );
  assert.notEqual(identityFingerprint({ a: 1 }), identityFingerprint({ a: 2 }));
});

Deno.test("a store with another schema version is rebuilt", async () => {
  await withDir((dir) => {
    const path = `${dir}/store.sqlite`;
    populate(path, 2);
    const db = new DatabaseSync(path);
    db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(
      SCHEMA_VERSION + 1,
    );
    db.close();
    const { store, rebuilt } = openStore(path, { identity });
    assert.equal(
      rebuilt,
      `the store has schema version ${
        SCHEMA_VERSION + 1
      }, expected ${SCHEMA_VERSION}`,
    );
    assert.equal(store.workgroupCount(), 0);
    store.close();
  });
});

Deno.test("a store that fails PRAGMA integrity_check is rebuilt", async () => {
  await withDir((dir) => {
    const path = `${dir}/store.sqlite`;
    populate(path, 200);
    // Corrupt one key inside the entryUUID index (not the table row, which
    // is followed by its DN): the index is then out of order and disagrees
    // with the table, which only an integrity check notices.
    const db = new DatabaseSync(path);
    assert.equal(
      db.prepare("PRAGMA integrity_check").get()?.integrity_check,
      "ok",
    );
    db.close();
    const bytes = Deno.readFileSync(path);
    const needle = new TextEncoder().encode(uuid(100));
    const dnStart = new TextEncoder().encode("cn=");
    let changed = 0;
    for (let i = 0; i + needle.length + 3 <= bytes.length; i++) {
      if (
        needle.every((b, j) => bytes[i + j] === b) &&
        !dnStart.every((b, j) => bytes[i + needle.length + j] === b)
      ) {
        bytes[i] = "f".charCodeAt(0);
        changed++;
      }
    }
    assert.ok(changed > 0, "the key is in the index");
    Deno.writeFileSync(path, bytes);
    const { store, rebuilt } = openStore(path, { identity });
    assert.match(rebuilt ?? "", /^the store failed PRAGMA integrity_check: /);
    assert.equal(store.workgroupCount(), 0);
    assert.equal(store.snapshotPending, true);
    store.close();
  });
});

Deno.test("a file that is not a database is rebuilt, with the reason", async () => {
  await withDir((dir) => {
    const path = `${dir}/store.sqlite`;
    Deno.writeFileSync(path, crypto.getRandomValues(new Uint8Array(10000)));
    const { store, rebuilt } = openStore(path, { identity });
    assert.equal(rebuilt, "the store is corrupt: file is not a database");
    assert.equal(store.workgroupCount(), 0);
    store.close();
  });
});

Deno.test("a store rebuilt twice keeps both stores moved aside, under names of their own", async () => {
  await withDir((dir) => {
    const path = `${dir}/store.sqlite`;
    const moved: string[] = [];
    for (const bind of ["first@EXAMPLE.ORG", "second@EXAMPLE.ORG"]) {
      populate(path, 1);
      const opened = openStore(path, { identity: { ...identity, bind } });
      assert.ok(opened.movedTo !== undefined, "rebuilt");
      moved.push(opened.movedTo);
      opened.store.close();
      Deno.removeSync(path);
    }
    assert.notEqual(moved[0], moved[1]);
    for (const old of moved) {
      const { store, rebuilt } = openStore(old, { identity });
      assert.equal(rebuilt, undefined, `${old} is still the first store`);
      assert.equal(store.workgroupCount(), 1);
      store.close();
    }
  });
});

Deno.test("a store locked by another connection is an error to retry, never rebuilt", async () => {
  await withDir((dir) => {
    const path = `${dir}/store.sqlite`;
    populate(path, 2);
    const holder = new DatabaseSync(path);
    holder.exec("PRAGMA locking_mode = EXCLUSIVE");
    holder.exec("BEGIN EXCLUSIVE");
    holder.exec("DELETE FROM outbox");
    try {
      assert.throws(() => openStore(path, { identity }), {
        name: "StoreUnavailableError",
        message:
          `Cannot open the store as it cannot be read now (database is locked); it was left as it is: path is "${path}"`,
      });
      assert.deepEqual(
        [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
          n.includes(".old")
        ),
        [],
      );
    } finally {
      holder.exec("ROLLBACK");
      holder.close();
    }
    const { store, rebuilt } = openStore(path, { identity });
    assert.equal(rebuilt, undefined);
    assert.equal(store.workgroupCount(), 2);
    store.close();
  });
});
