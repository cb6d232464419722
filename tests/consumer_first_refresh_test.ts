// The fast paths of a refresh into an empty store (node:sqlite, temp dir):
// an entry reported twice, and the held-members index built at the end.

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openStore, WorkgroupApplier } from "../lib/wgsync_ldap/mod.ts";
import {
  group,
  outbox,
  person,
  reconstruct,
  refreshEnd,
  uuid,
  withStore,
} from "./helpers/consumer.ts";

Deno.test("an entry reported twice in a first refresh is stored once with its later state", async () => {
  await withStore((store) => {
    const applier = new WorkgroupApplier(store);
    applier.beginSearch();
    applier.apply(group("add", 1, "s:g1", [person("a")], 1));
    applier.apply(group("add", 2, "s:g2", [person("c")], 2));
    applier.apply(group("add", 1, "s:g1", [person("a"), person("b")], 3));
    applier.apply(refreshEnd("delete", 3));
    assert.equal(store.workgroupCount(), 2);
    assert.deepEqual(JSON.parse(store.workgroup(uuid(1))!.members), [
      person("a"),
      person("b"),
    ]);
    const events = outbox(store);
    const g1 = events.filter((event) => event.workgroup === "s:g1");
    assert.deepEqual(
      g1.map((event) => event.seq),
      [...g1.map((event) => event.seq)].sort((a, b) => a - b),
    );
    assert.equal(new Set(events.map((event) => event.id)).size, events.length);
    assert.deepEqual(
      reconstruct(events),
      new Map([
        ["s:g1", new Set([person("a"), person("b")])],
        ["s:g2", new Set([person("c")])],
      ]),
    );
  });
});

Deno.test("the held-members index lost with a crash is recreated when the store opens", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-first-refresh-" });
  const path = `${dir}/store.sqlite`;
  const identity = { base: "ou=groups,dc=example,dc=org" };
  const hasIndex = () => {
    const db = new DatabaseSync(path);
    try {
      return db.prepare(
        "SELECT 1 AS n FROM sqlite_master WHERE type = 'index' AND name = 'outbox_members_of'",
      ).get() !== undefined;
    } finally {
      db.close();
    }
  };
  try {
    const { store } = openStore(path, { identity });
    const applier = new WorkgroupApplier(store);
    applier.beginSearch();
    for (let i = 1; i <= 3; i++) {
      applier.apply(group("add", i, `s:g${i}`, [person(`u${i}`)], i));
    }
    applier.apply(refreshEnd("delete", 3));
    store.close();
    assert.ok(hasIndex(), "the index is built when the refresh ends");

    // A crash between dropping and rebuilding it leaves the store without it.
    const db = new DatabaseSync(path);
    db.exec("DROP INDEX outbox_members_of");
    db.close();
    assert.ok(!hasIndex());

    const reopened = openStore(path, { identity });
    assert.equal(reopened.rebuilt, undefined);
    reopened.store.close();
    assert.ok(hasIndex(), "opening the store recreates the index");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
