/**
 * The refresh phases of RFC 4533 as the WorkgroupApplier applies them: the
 * present phase, ID sets with refreshDeletes, refreshRequired, an interrupted
 * refresh.
 *
 * Apply tests feed SyncMessage sequences built in the test: the sync client
 * (lib/ldap/) yields these typed messages from a real slapd; the same
 * paths against a real slapd run in the ldap_role_*_test.ts files. node:sqlite is real.
 */

import assert from "node:assert/strict";
import {
  ApplyError,
  openStore,
  WorkgroupApplier,
} from "../lib/wgsync_ldap/mod.ts";
import {
  cookie,
  csn,
  group,
  outbox,
  person,
  reconstruct,
  refreshEnd,
  uuid,
  withStore,
} from "./helpers/consumer.ts";
import { seeded, types } from "./helpers/workgroup_applier.ts";

const decoder = new TextDecoder();

Deno.test("a present-phase refresh deletes exactly the entries not reported present", async () => {
  await withStore((store) => {
    const applier = new WorkgroupApplier(store, { guard: { maxShare: 0.5 } });
    applier.beginSearch();
    for (let i = 1; i <= 10; i++) {
      applier.apply(group("add", i, `s:g${i}`, [person(`u${i}`)], i));
    }
    applier.apply(refreshEnd("present", 10));
    const before = outbox(store).length;
    // Reconnect after a slapd restart: a present phase (RFC 4533 3.4.1).
    applier.beginSearch();
    for (const i of [1, 2, 3]) {
      applier.apply(group("present", i, `s:g${i}`, [], 0));
    }
    applier.apply({
      kind: "idSet",
      entryUUIDs: [uuid(4), uuid(5), uuid(6)],
      refreshDeletes: false,
    });
    applier.apply(group("add", 7, "s:g7", [person("u7"), person("new")], 11));
    applier.apply(group("add", 11, "s:g11", [person("u11")], 12));
    // 8, 9 and 10 were not reported: they are gone.
    assert.equal(
      store.workgroupCount(),
      11,
      "deletions wait for the end of the refresh",
    );
    const done = applier.apply(refreshEnd("present", 12));
    assert.equal(done.kind === "applied" && done.deleted, 3);
    const events = outbox(store).slice(before);
    assert.deepEqual(types(events).sort(), [
      "member.added s:g7 new",
      "workgroup.created s:g11",
      "workgroup.deleted s:g10",
      "workgroup.deleted s:g8",
      "workgroup.deleted s:g9",
    ]);
    assert.deepEqual(
      [...reconstruct(outbox(store)).keys()].sort(),
      ["s:g1", "s:g11", "s:g2", "s:g3", "s:g4", "s:g5", "s:g6", "s:g7"],
    );
    assert.equal(decoder.decode(applier.cookie), `rid=000,csn=${csn(12)}`);
  });
});

Deno.test("an ID set with refreshDeletes deletes its entries when the refresh ends, and at once in the persist stage", async () => {
  await withStore((store) => {
    const applier = new WorkgroupApplier(store, { guard: { maxShare: 1 } });
    applier.beginSearch();
    for (let i = 1; i <= 6; i++) {
      applier.apply(group("add", i, `s:g${i}`, [], i));
    }
    applier.apply(refreshEnd("present", 6));
    // Resume from the cookie with a session log: a delete phase.
    applier.beginSearch();
    applier.apply({
      kind: "idSet",
      entryUUIDs: [uuid(2), uuid(3)],
      refreshDeletes: true,
    });
    assert.equal(store.workgroupCount(), 6);
    applier.apply(refreshEnd("delete", 7));
    assert.equal(store.workgroupCount(), 4);
    assert.deepEqual(
      types(outbox(store).filter((e) => e.type === "workgroup.deleted")).sort(),
      ["workgroup.deleted s:g2", "workgroup.deleted s:g3"],
    );
    // Entries not mentioned by a delete phase stay.
    assert.ok(store.workgroup(uuid(4)));
    // Persist stage: an ID set of deletions is applied with its cookie.
    applier.apply({
      kind: "idSet",
      entryUUIDs: [uuid(5)],
      refreshDeletes: true,
      cookie: cookie(8),
    });
    assert.equal(store.workgroup(uuid(5)), undefined);
    assert.equal(decoder.decode(applier.cookie), `rid=000,csn=${csn(8)}`);
    const deleted = outbox(store).at(-1)!;
    assert.equal(deleted.type, "workgroup.deleted");
    assert.equal(deleted.csn, csn(8));
  });
});

Deno.test("refreshRequired drops the cookie; the next full refresh emits a snapshot of every workgroup", async () => {
  await withStore((store) => {
    // One of three deleted is a third: above the default guard share.
    const applier = seeded(store, { guard: { maxShare: 0.5 } });
    applier.apply(
      group("add", 3, "research:gamma", [person("dan")], 3, {
        cookie: cookie(3),
      }),
    );
    const before = outbox(store).length;
    const required = applier.apply({ kind: "refreshRequired" });
    assert.deepEqual(required, { kind: "refreshRequired" });
    assert.equal(applier.cookie, undefined);
    assert.equal(store.snapshotPending, true);
    assert.throws(() => applier.apply(refreshEnd("present", 9)), ApplyError);
    // The caller restarts the search without a cookie: a full refresh.
    applier.beginSearch();
    applier.apply(
      group("add", 1, "research:alpha", [person("ann"), person("fay")], 4),
    );
    applier.apply(group("add", 3, "research:delta", [person("dan")], 5)); // renamed meanwhile
    applier.apply(group("add", 4, "research:eps", [person("gus")], 6)); // new meanwhile
    // research:beta (2) was deleted meanwhile.
    const done = applier.apply(refreshEnd("present", 6));
    assert.equal(done.kind === "applied" && done.snapshots, 3);
    assert.equal(store.snapshotPending, false);
    const events = outbox(store).slice(before);
    assert.deepEqual(types(events).sort(), [
      "workgroup.deleted research:beta",
      "workgroup.renamed research:delta",
      "workgroup.snapshot research:alpha",
      "workgroup.snapshot research:delta",
      "workgroup.snapshot research:eps",
    ]);
    const alpha = events.find((e) =>
      e.type === "workgroup.snapshot" && e.workgroup === "research:alpha"
    )!;
    assert.deepEqual(alpha.members!.map((m) => m.id), ["ann", "fay"]);
    assert.deepEqual(
      reconstruct(outbox(store)),
      new Map([
        ["research:alpha", new Set([person("ann"), person("fay")])],
        ["research:delta", new Set([person("dan")])],
        ["research:eps", new Set([person("gus")])],
      ]),
    );
  });
});

Deno.test("an interrupted refresh is repeated without duplicate events (the cookie only moves at its end)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/store.sqlite`;
    const identity = { base: "x" };
    const entries = Array.from(
      { length: 25 },
      (_, i) => group("add", i + 1, `s:g${i + 1}`, [person(`u${i}`)], i + 1),
    );
    let { store } = openStore(path, { identity });
    let applier = new WorkgroupApplier(store, { refreshBatchSize: 10 });
    applier.beginSearch();
    for (const entry of entries.slice(0, 17)) applier.apply(entry);
    // The connection drops: staged entries are committed, the cookie is not.
    applier.endSearch();
    store.close();
    ({ store } = openStore(path, { identity }));
    assert.equal(store.cookie("workgroups"), undefined);
    applier = new WorkgroupApplier(store, { refreshBatchSize: 10 });
    applier.beginSearch();
    for (const entry of entries) applier.apply(entry);
    applier.apply(refreshEnd("present", 25));
    const events = outbox(store);
    assert.equal(events.length, 25);
    assert.equal(new Set(events.map((e) => e.id)).size, 25);
    assert.equal(store.workgroupCount(), 25);
    store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
