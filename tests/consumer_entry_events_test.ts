/**
 * The events the WorkgroupApplier derives from entry changes: a first refresh,
 * modifies, renames, deletes and re-creations, a 5,000-member modify, the
 * placeholder member.
 *
 * Apply tests feed SyncMessage sequences built in the test: the sync client
 * (lib/ldap/) yields these typed messages from a real slapd; the same
 * paths against a real slapd run in the ldap_role_*_test.ts files. node:sqlite is real.
 */

import assert from "node:assert/strict";
import { WorkgroupApplier } from "../lib/wgsync_ldap/mod.ts";
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

Deno.test("a first refresh emits workgroup.created with the members and stores the cookie", async () => {
  await withStore((store) => {
    const applier = new WorkgroupApplier(store);
    assert.equal(applier.cookie, undefined);
    applier.beginSearch();
    const first = applier.apply(
      group("add", 1, "research:alpha", [person("ann"), person("bob")], 1),
    );
    assert.equal(first.kind, "applied");
    applier.apply(group("add", 2, "research:beta", [person("cat")], 2));
    // Nothing is sendable before the refresh committed.
    assert.equal(outbox(store).length, 0);
    const done = applier.apply(refreshEnd("present", 2));
    assert.deepEqual(done, {
      kind: "applied",
      events: 0,
      refreshDone: true,
      deleted: 0,
      snapshots: 0,
      verdict: done.kind === "applied" ? done.verdict : undefined,
    });
    assert.equal(decoder.decode(applier.cookie), `rid=000,csn=${csn(2)}`);
    const events = outbox(store);
    assert.deepEqual(types(events), [
      "workgroup.created research:alpha",
      "workgroup.created research:beta",
    ]);
    const [alpha] = events;
    assert.equal(alpha.v, 1);
    assert.equal(alpha.stem, "research");
    assert.equal(alpha.csn, csn(1));
    assert.match(alpha.id, /^[0-9a-f]{64}$/);
    assert.ok(Math.abs(Date.parse(alpha.observedAt) - Date.now()) < 60_000);
    assert.deepEqual(alpha.members, [
      { dn: person("ann"), id: "ann", uid: null },
      { dn: person("bob"), id: "bob", uid: null },
    ]);
    assert.equal(store.workgroupCount(), 2);
  });
});

Deno.test("a modify emits member.added and member.removed as the set difference, with the cookie in the same commit", async () => {
  await withStore((store) => {
    const applier = seeded(store);
    const before = outbox(store).length;
    const result = applier.apply(
      group(
        "modify",
        1,
        "research:alpha",
        [person("bob"), person("dan"), person("eve")],
        3,
        {
          cookie: cookie(3),
        },
      ),
    );
    assert.equal(result.kind, "applied");
    assert.equal(result.kind === "applied" && result.events, 3);
    const events = outbox(store).slice(before);
    assert.deepEqual(types(events), [
      "member.removed research:alpha ann",
      "member.added research:alpha dan",
      "member.added research:alpha eve",
    ]);
    assert.equal(decoder.decode(applier.cookie), `rid=000,csn=${csn(3)}`);
    // seq increases per workgroup, one by one within the workgroup.
    const created = outbox(store)[0];
    assert.deepEqual(events.map((e) => e.seq), [
      created.seq + 1,
      created.seq + 2,
      created.seq + 3,
    ]);
    // The same modify again (a replay) changes nothing and emits nothing.
    const again = applier.apply(
      group(
        "modify",
        1,
        "research:alpha",
        [person("bob"), person("dan"), person("eve")],
        3,
        {
          cookie: cookie(3),
        },
      ),
    );
    assert.equal(again.kind === "applied" && again.events, 0);
    // Member values match case-insensitively: a re-cased value is no change.
    const recased = applier.apply(
      group(
        "modify",
        1,
        "research:alpha",
        ["UID=Bob, ou=People,dc=example,dc=org", person("dan"), person("eve")],
        4,
        {
          cookie: cookie(4),
        },
      ),
    );
    assert.equal(recased.kind === "applied" && recased.events, 0);
  });
});

Deno.test("a rename (same entryUUID, new DN) emits workgroup.renamed, then the member differences under the new name", async () => {
  await withStore((store) => {
    const applier = seeded(store);
    const before = outbox(store).length;
    applier.apply(
      group("modify", 1, "research:gamma", [person("ann")], 3, {
        cookie: cookie(3),
      }),
    );
    const events = outbox(store).slice(before);
    assert.deepEqual(types(events), [
      "workgroup.renamed research:gamma",
      "member.removed research:gamma bob",
    ]);
    assert.equal(events[0].previous, "research:alpha");
    assert.ok(events[1].seq > events[0].seq);
    assert.equal(store.workgroup(uuid(1))?.name, "research:gamma");
    assert.equal(
      store.workgroup(uuid(1))?.dn,
      "cn=research:gamma,ou=groups,dc=example,dc=org",
    );
  });
});

Deno.test("a rename into another stem emits workgroup.deleted of the old name and workgroup.created of the new one (subscribers select by stem)", async () => {
  await withStore((store) => {
    const applier = seeded(store);
    const before = outbox(store).length;
    applier.apply(
      group("modify", 1, "uit:alpha", [person("ann")], 3, {
        cookie: cookie(3),
      }),
    );
    const events = outbox(store).slice(before);
    assert.deepEqual(
      events.map((
        e,
      ) => [e.type, e.workgroup, e.stem, e.members?.map((m) => m.id)]),
      [
        ["workgroup.deleted", "research:alpha", "research", undefined],
        ["workgroup.created", "uit:alpha", "uit", ["ann"]],
      ],
    );
    assert.ok(events[1].seq > events[0].seq);
    assert.equal(store.workgroup(uuid(1))?.name, "uit:alpha");
  });
});

Deno.test("a delete emits workgroup.deleted; re-creating the same name (new entryUUID) emits workgroup.created with a higher seq", async () => {
  await withStore((store) => {
    const applier = seeded(store);
    applier.apply({
      ...group("delete", 1, "research:alpha", [], 0),
      cookie: cookie(3),
    });
    applier.apply(
      group("add", 9, "research:alpha", [person("zed")], 4, {
        cookie: cookie(4),
      }),
    );
    const events = outbox(store).filter((e) =>
      e.workgroup === "research:alpha"
    );
    assert.deepEqual(types(events), [
      "workgroup.created research:alpha",
      "workgroup.deleted research:alpha",
      "workgroup.created research:alpha",
    ]);
    assert.ok(events[0].seq < events[1].seq && events[1].seq < events[2].seq);
    // The deletion's CSN comes from its cookie; the new entry's from its entryCSN.
    assert.equal(events[1].csn, csn(3));
    assert.equal(events[2].csn, csn(4));
    assert.notEqual(events[0].id, events[2].id);
    assert.equal(store.workgroup(uuid(1)), undefined);
    assert.deepEqual(JSON.parse(store.workgroup(uuid(9))!.members), [
      person("zed"),
    ]);
    // Deleting an unknown entry is a no-op.
    const none = applier.apply({
      ...group("delete", 77, "x:y", [], 0),
      cookie: cookie(5),
    });
    assert.equal(none.kind === "applied" && none.events, 0);
  });
});

Deno.test("a 5,000-member modify is applied in one commit with exact differences", async () => {
  await withStore((store) => {
    const applier = new WorkgroupApplier(store);
    applier.beginSearch();
    const initial = Array.from({ length: 5000 }, (_, i) => person(`u${i}`));
    applier.apply(group("add", 1, "big:group", initial, 1));
    applier.apply(refreshEnd("present", 1));
    assert.equal(outbox(store)[0].members!.length, 5000);
    // Keep the even half, replace the odd half with 2,500 new members.
    const next = [
      ...initial.filter((_, i) => i % 2 === 0),
      ...Array.from({ length: 2500 }, (_, i) => person(`n${i}`)),
    ];
    const result = applier.apply(
      group("modify", 1, "big:group", next, 2, { cookie: cookie(2) }),
    );
    assert.equal(result.kind === "applied" && result.events, 5000);
    const events = outbox(store).slice(1);
    assert.equal(
      events.filter((e) => e.type === "member.removed").length,
      2500,
    );
    assert.equal(events.filter((e) => e.type === "member.added").length, 2500);
    assert.deepEqual(
      new Set(
        events.filter((e) => e.type === "member.removed").map((e) =>
          e.member!.id
        ),
      ),
      new Set(
        initial.filter((_, i) => i % 2 === 1).map((dn) =>
          dn.slice(4, dn.indexOf(","))
        ),
      ),
    );
    assert.equal(new Set(events.map((e) => e.id)).size, 5000);
    assert.deepEqual(
      reconstruct(outbox(store)).get("big:group"),
      new Set(next),
    );
    assert.equal(decoder.decode(applier.cookie), `rid=000,csn=${csn(2)}`);
  });
});

Deno.test("the placeholder member (the empty DN groupOfNames needs) is no member: not in created, member or snapshot events", async () => {
  await withStore((store) => {
    const applier = new WorkgroupApplier(store);
    applier.beginSearch();
    applier.apply(group("add", 1, "research:alpha", ["", person("ann")], 1));
    applier.apply(refreshEnd("present", 1));
    const change = (members: string[], n: number) =>
      applier.apply(
        group("modify", 1, "research:alpha", members, n, { cookie: cookie(n) }),
      );
    change(["", person("ann"), person("bob")], 2);
    change([person("ann"), person("bob")], 3);
    change(["", person("ann")], 4);
    applier.apply({ kind: "refreshRequired" });
    applier.beginSearch();
    applier.apply(group("add", 1, "research:alpha", ["", person("ann")], 4));
    applier.apply(refreshEnd("present", 4));
    assert.deepEqual(
      outbox(store).map((e) =>
        `${e.type} ${
          (e.members ?? [e.member!]).map((m) => JSON.stringify(m.dn)).join(" ")
        }`
      ),
      [
        `workgroup.created "${person("ann")}"`,
        `member.added "${person("bob")}"`,
        `member.removed "${person("bob")}"`,
        `workgroup.snapshot "${person("ann")}"`,
      ],
    );
  });
});
