// Apply tests feed SyncMessage sequences built in the test: the sync client
// (lib/ldap/) yields these typed messages from a real slapd; the end-to-end
// run against slapd comes when roles/ldap.ts is wired. node:sqlite is real.

import assert from "node:assert/strict";
import {
  ApplyError,
  MemberDirectory,
  openStore,
  PeopleApplier,
  type Store,
  WorkgroupApplier,
  type WorkgroupApplierOptions,
} from "../lib/wgsync_ldap/mod.ts";
import { type WorkgroupEvent } from "../lib/events/mod.ts";
import {
  captureLogs,
  cookie,
  csn,
  group,
  outbox,
  person,
  reconstruct,
  refreshEnd,
  text,
  uuid,
  withStore,
} from "./helpers/consumer.ts";

const decoder = new TextDecoder();

function types(events: WorkgroupEvent[]): string[] {
  return events.map((e) =>
    `${e.type} ${e.workgroup}${e.member ? ` ${e.member.id}` : ""}`
  );
}

/** Loads two workgroups through a first refresh and returns the applier. */
function seeded(
  store: Store,
  options: WorkgroupApplierOptions = {},
): WorkgroupApplier {
  const applier = new WorkgroupApplier(store, options);
  applier.beginSearch();
  applier.apply(
    group("add", 1, "research:alpha", [person("ann"), person("bob")], 1),
  );
  applier.apply(group("add", 2, "research:beta", [person("cat")], 2));
  applier.apply(refreshEnd("present", 2));
  return applier;
}

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

Deno.test("an entry that leaves the search scope twice (moved out, back, out) gets two deletions with different ids; two consumers derive the same ids", async () => {
  const deletions = async (seedFirst: boolean) => {
    let ids: string[] = [];
    await withStore((store) => {
      const applier = seedFirst ? seeded(store) : new WorkgroupApplier(store);
      if (!seedFirst) {
        // A consumer started later: its first sight of the entry is the
        // version after a change of an attribute it does not track.
        applier.beginSearch();
        applier.apply(
          group("add", 1, "research:alpha", [person("ann"), person("bob")], 5),
        );
        applier.apply(refreshEnd("present", 5));
      } else {
        applier.apply(
          group(
            "modify",
            1,
            "research:alpha",
            [person("ann"), person("bob")],
            5,
            {
              cookie: cookie(5),
              attributes: { description: ["changed"] },
            },
          ),
        );
      }
      applier.apply({
        ...group("delete", 1, "research:alpha", [], 0),
        cookie: cookie(6),
      });
      applier.apply(
        group("add", 1, "research:alpha", [person("ann")], 7, {
          cookie: cookie(7),
        }),
      );
      applier.apply({
        ...group("delete", 1, "research:alpha", [], 0),
        cookie: cookie(8),
      });
      ids = outbox(store).filter((e) => e.type === "workgroup.deleted").map((
        e,
      ) => e.id);
    });
    return ids;
  };
  const first = await deletions(true);
  assert.equal(first.length, 2);
  assert.notEqual(first[0], first[1]);
  assert.deepEqual(await deletions(false), first);
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

Deno.test("names that are not stem:name are skipped with one warning each", async () => {
  await captureLogs(async (records) => {
    await withStore((store) => {
      const applier = new WorkgroupApplier(store);
      applier.beginSearch();
      applier.apply(group("add", 1, "nostem", [person("ann")], 1));
      applier.apply(group("add", 2, ":empty-stem", [person("ann")], 2));
      applier.apply(group("add", 3, "ok:fine", [person("ann")], 3));
      applier.apply(refreshEnd("present", 3));
      applier.apply(
        group("modify", 1, "nostem", [person("bob")], 4, { cookie: cookie(4) }),
      );
      const warnings = records.filter((r) => r.level === "warning").map(text);
      assert.equal(warnings.length, 2, warnings.join("\n"));
      assert.match(warnings[0], /nostem.*not of the form stem:name/);
      assert.match(warnings[1], /:empty-stem/);
      assert.deepEqual(types(outbox(store)), ["workgroup.created ok:fine"]);
      // Renamed to a valid name: created, with its members.
      applier.apply(
        group("modify", 1, "now:valid", [person("bob")], 5, {
          cookie: cookie(5),
        }),
      );
      // Renamed to an invalid name: deleted under the old name, one more warning.
      applier.apply(
        group("modify", 3, "broken", [person("ann")], 6, { cookie: cookie(6) }),
      );
      assert.deepEqual(types(outbox(store)).slice(1), [
        "workgroup.created now:valid",
        "workgroup.deleted ok:fine",
      ]);
      assert.equal(records.filter((r) => r.level === "warning").length, 3);
      // Deleting a skipped entry emits nothing.
      applier.apply({ ...group("delete", 2, "", [], 0), cookie: cookie(7) });
      assert.equal(outbox(store).length, 3);
    });
  });
});

Deno.test("event ids derive from directory facts only: two stores fed the same messages agree", async () => {
  const messages = [
    group("add", 1, "a:one", [person("ann")], 1),
    group("add", 2, "a:two", [person("bob")], 2),
    refreshEnd("present", 2),
    group("modify", 1, "a:one", [person("cat")], 3, { cookie: cookie(3) }),
    group("modify", 2, "a:deux", [person("bob")], 4, { cookie: cookie(4) }),
    { ...group("delete", 1, "a:one", [], 0), cookie: cookie(5) },
  ];
  const runs: WorkgroupEvent[][] = [];
  for (const pageSize of [4096, 65536]) {
    await withStore((store) => {
      const applier = new WorkgroupApplier(store);
      applier.beginSearch();
      for (const message of messages) applier.apply(message);
      runs.push(outbox(store));
    }, { pageSize });
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(runs[0].length, 6);
  assert.deepEqual(runs[0].map((e) => e.id), runs[1].map((e) => e.id));
  // Local facts (positions, time) differ between the stores, the ids do not.
  assert.notDeepEqual(runs[0].map((e) => e.seq), runs[1].map((e) => e.seq));
  assert.equal(new Set(runs[0].map((e) => e.id)).size, 6);
});

Deno.test("member id and uid come from the people search, kept current as people change", async () => {
  await withStore((store) => {
    const directory = new MemberDirectory();
    const people = new PeopleApplier(store, directory, {
      idAttribute: "suregid",
    });
    people.beginSearch();
    const ann = (uid: string, regid: string, n = 100) => ({
      kind: "entry" as const,
      state: "add" as const,
      entryUUID: uuid(n),
      dn: person("ann"),
      attributes: { uid: [uid], suregid: [regid] },
    });
    people.apply(ann("ann", "R-1"));
    people.apply({
      kind: "entry",
      state: "add",
      entryUUID: uuid(101),
      dn: person("bob"),
      attributes: { uid: ["bobby"] },
    });
    people.apply({
      kind: "refreshEnd",
      phase: "present",
      refreshDone: true,
      refreshDeletes: false,
      cookie: cookie(1),
    });
    assert.equal(decoder.decode(people.cookie), `rid=000,csn=${csn(1)}`);

    const applier = new WorkgroupApplier(store, { members: directory });
    applier.beginSearch();
    applier.apply(
      group(
        "add",
        1,
        "a:one",
        [person("ann"), person("bob"), person("cat")],
        1,
      ),
    );
    applier.apply(refreshEnd("present", 1));
    assert.deepEqual(outbox(store)[0].members, [
      { dn: person("ann"), id: "R-1", uid: "ann" },
      { dn: person("bob"), id: "bob", uid: "bobby" },
      { dn: person("cat"), id: "cat", uid: null },
    ]);
    // A person's uid changes; a member event after that carries the new one.
    people.apply({
      ...ann("annie", "R-1"),
      state: "modify",
      cookie: cookie(2),
    });
    applier.apply(
      group("modify", 1, "a:one", [person("bob"), person("cat")], 3, {
        cookie: cookie(3),
      }),
    );
    assert.deepEqual(outbox(store).at(-1)!.member, {
      dn: person("ann"),
      id: "R-1",
      uid: "annie",
    });
    // The people table survives a restart: a new applier loads it.
    store.close();
  });
});

Deno.test("the people table is reloaded on start and follows present-phase deletions", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/store.sqlite`;
    const identity = { base: "x" };
    let { store } = openStore(path, { identity });
    let directory = new MemberDirectory();
    let people = new PeopleApplier(store, directory);
    people.beginSearch();
    for (const [n, uid] of [[1, "ann"], [2, "bob"]] as const) {
      people.apply({
        kind: "entry",
        state: "add",
        entryUUID: uuid(n),
        dn: person(uid),
        attributes: { uid: [uid] },
      });
    }
    people.apply({
      kind: "refreshEnd",
      phase: "present",
      refreshDone: true,
      refreshDeletes: false,
      cookie: cookie(1),
    });
    store.close();
    ({ store } = openStore(path, { identity }));
    directory = new MemberDirectory();
    people = new PeopleApplier(store, directory);
    assert.equal(directory.size, 2);
    assert.equal(directory.resolve(person("bob")).uid, "bob");
    people.beginSearch();
    people.apply({
      kind: "entry",
      state: "present",
      entryUUID: uuid(1),
      dn: person("ann"),
      attributes: {},
    });
    people.apply({
      kind: "refreshEnd",
      phase: "present",
      refreshDone: true,
      refreshDeletes: false,
      cookie: cookie(2),
    });
    assert.equal(directory.size, 1);
    assert.equal(directory.resolve(person("bob")).uid, null);
    assert.equal(store.personCount(), 1);
    store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("apply refuses messages before beginSearch and after a refreshRequired until a new search", async () => {
  await withStore((store) => {
    const applier = new WorkgroupApplier(store);
    assert.throws(
      () => applier.apply(refreshEnd("present", 1)),
      /call beginSearch\(\) for a new search first/,
    );
    applier.beginSearch();
    applier.apply({ kind: "refreshRequired" });
    assert.throws(
      () => applier.apply(group("add", 1, "a:b", [], 1)),
      /search is halted/,
    );
    applier.beginSearch();
    assert.equal(applier.apply(group("add", 1, "a:b", [], 1)).kind, "applied");
  });
});

Deno.test("options are validated up front with clear errors", async () => {
  await withStore((store) => {
    assert.throws(
      () => new WorkgroupApplier(store, { nameAttribute: "c n" }),
      {
        name: "RangeError",
        message:
          'Cannot create the workgroup applier as nameAttribute is invalid: nameAttribute is "c n", expected an LDAP attribute name',
      },
    );
    assert.throws(
      () => new WorkgroupApplier(store, { refreshBatchSize: 0 }),
      {
        name: "RangeError",
        message:
          "Cannot create the workgroups applier as refreshBatchSize is invalid: refreshBatchSize is 0, expected a positive integer",
      },
    );
    assert.throws(
      () => new WorkgroupApplier(store, { guard: { maxShare: 2 } }),
      {
        name: "RangeError",
        message:
          "Cannot configure the mass-deletion guard as maxShare is invalid: maxShare is 2, expected a number from 0 to 1",
      },
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
