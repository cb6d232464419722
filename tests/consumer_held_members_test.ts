// The member lists of workgroup.created and workgroup.snapshot events are held
// by reference to the store until the event is read (a first refresh then
// writes each list once). These tests check that an event read from the
// outbox is still exactly the fact observed when it was appended — after the
// workgroup or a person changed, after a rollback and after a reopen — and
// that it is the same text as an event written out in full. No LDAP server:
// the sync messages are built in the test (see tests/helpers/consumer.ts).

import assert from "node:assert/strict";
import {
  MemberDirectory,
  openStore,
  PeopleApplier,
  WorkgroupApplier,
} from "../lib/wgsync_ldap/mod.ts";
import {
  cookie,
  group,
  outbox,
  person,
  refreshEnd,
  uuid,
  withStore,
} from "./helpers/consumer.ts";

const GROUP = 1;

/** A people search's refresh of ann and bob (uid "ann" and "bobby"). */
function loadPeople(people: PeopleApplier): void {
  people.beginSearch();
  for (const [n, uid, name] of [[100, "ann", "ann"], [101, "bobby", "bob"]]) {
    people.apply({
      kind: "entry",
      state: "add",
      entryUUID: uuid(Number(n)),
      dn: person(String(name)),
      attributes: { uid: [String(uid)] },
    });
  }
  people.apply({
    kind: "refreshEnd",
    phase: "present",
    refreshDone: true,
    refreshDeletes: false,
    cookie: cookie(1),
  });
}

const CREATED_MEMBERS = [
  { dn: person("ann"), id: "ann", uid: "ann" },
  { dn: person("bob"), id: "bob", uid: "bobby" },
  { dn: person("cat"), id: "cat", uid: null },
];

function createdBy(store: Parameters<typeof outbox>[0]) {
  const created = outbox(store).find((e) => e.type === "workgroup.created");
  assert.ok(created, "the outbox holds the workgroup.created event");
  return created;
}

Deno.test("a created event keeps its members when the workgroup changes or is deleted before it is sent", async () => {
  await withStore((store) => {
    const directory = new MemberDirectory();
    loadPeople(new PeopleApplier(store, directory));
    const applier = new WorkgroupApplier(store, { members: directory });
    applier.beginSearch();
    const members = [person("ann"), person("bob"), person("cat")];
    applier.apply(group("add", GROUP, "a:one", members, 2));
    applier.apply(refreshEnd("present", 2));
    assert.deepEqual(createdBy(store).members, CREATED_MEMBERS);
    const before = store.readOutbox(0, 10)[0].body;

    applier.apply(
      group("modify", GROUP, "a:one", [person("cat"), person("dan")], 3, {
        cookie: cookie(3),
      }),
    );
    assert.equal(store.readOutbox(0, 10)[0].body, before);
    assert.deepEqual(
      outbox(store).slice(1).map((e) => `${e.type} ${e.member?.dn}`).sort(),
      [
        `member.added ${person("dan")}`,
        `member.removed ${person("ann")}`,
        `member.removed ${person("bob")}`,
      ],
    );

    applier.apply({
      kind: "entry",
      state: "delete",
      entryUUID: uuid(GROUP),
      dn: "",
      attributes: {},
      cookie: cookie(4),
    });
    assert.equal(store.workgroup(uuid(GROUP)), undefined);
    assert.equal(store.readOutbox(0, 10)[0].body, before);
    assert.equal(outbox(store).at(-1)!.type, "workgroup.deleted");
  });
});

Deno.test("a created event keeps the uids it was observed with when people change before it is sent", async () => {
  await withStore((store) => {
    const directory = new MemberDirectory();
    const people = new PeopleApplier(store, directory);
    loadPeople(people);
    const applier = new WorkgroupApplier(store, { members: directory });
    applier.beginSearch();
    applier.apply(
      group("add", GROUP, "a:one", [
        person("ann"),
        person("bob"),
        person("cat"),
      ], 2),
    );
    applier.apply(refreshEnd("present", 2));
    const before = store.readOutbox(0, 10)[0].body;
    // ann's uid changes, cat appears, bob leaves the people search.
    people.apply({
      kind: "entry",
      state: "modify",
      entryUUID: uuid(100),
      dn: person("ann"),
      attributes: { uid: ["annie"] },
      cookie: cookie(3),
    });
    people.apply({
      kind: "entry",
      state: "add",
      entryUUID: uuid(102),
      dn: person("cat"),
      attributes: { uid: ["kitty"] },
      cookie: cookie(4),
    });
    people.apply({
      kind: "entry",
      state: "delete",
      entryUUID: uuid(101),
      dn: "",
      attributes: {},
      cookie: cookie(5),
    });
    assert.equal(store.readOutbox(0, 10)[0].body, before);
    assert.deepEqual(createdBy(store).members, CREATED_MEMBERS);
    // A new event resolves with the people as they are now.
    applier.apply(
      group("modify", GROUP, "a:one", [person("ann"), person("bob")], 6, {
        cookie: cookie(6),
      }),
    );
    assert.deepEqual(outbox(store).at(-1)!.member, {
      dn: person("cat"),
      id: "cat",
      uid: "kitty",
    });
  });
});

Deno.test("a held event reads the same after a rolled-back change and after reopening the store", async () => {
  await withStore((store, dir) => {
    const applier = new WorkgroupApplier(store);
    applier.beginSearch();
    applier.apply(group("add", GROUP, "a:one", [person("ann")], 2));
    applier.apply(refreshEnd("present", 2));
    const before = store.readOutbox(0, 10)[0].body;
    // A change staged and then discarded (as a crash before its commit).
    const row = store.workgroup(uuid(GROUP))!;
    store.updateWorkgroup({ ...row, members: JSON.stringify([person("zed")]) });
    assert.equal(store.readOutbox(0, 10)[0].body, before);
    store.rollback();
    assert.equal(store.readOutbox(0, 10)[0].body, before);
    assert.deepEqual(JSON.parse(store.workgroup(uuid(GROUP))!.members), [
      person("ann"),
    ]);
    store.close();
    const reopened = openStore(`${dir}/store.sqlite`, {
      identity: { base: "ou=groups,dc=example,dc=org" },
    });
    assert.equal(reopened.rebuilt, undefined);
    try {
      assert.equal(reopened.store.readOutbox(0, 10)[0].body, before);
    } finally {
      reopened.store.close();
    }
  });
});

Deno.test("a held event is the same text as the event written out in full", async () => {
  const bodies: string[] = [];
  for (const filled of [false, true]) {
    await withStore((store) => {
      // A directory that is not the store's people table (filled by hand)
      // makes the applier write member lists out in full at once.
      const directory = new MemberDirectory();
      if (filled) {
        directory.set("uid=nobody,ou=elsewhere", { uid: null, uniqueId: null });
      }
      const applier = new WorkgroupApplier(store, { members: directory });
      applier.beginSearch();
      applier.apply(
        group(
          "add",
          GROUP,
          'a:one "quoted" \\ ü',
          [person("ann"), "cn=Ünïcode \\2C x,o=y"],
          2,
        ),
      );
      applier.apply(refreshEnd("present", 2));
      // Local facts differ between the two stores: compare the rest, as text.
      bodies.push(
        store.readOutbox(0, 10)[0].body
          .replace(/"seq":\d+,/, '"seq":0,')
          .replace(/"observedAt":"[^"]*"/, '"observedAt":""'),
      );
    });
  }
  assert.equal(bodies[0], bodies[1]);
  assert.equal(
    bodies[0],
    JSON.stringify({ ...JSON.parse(bodies[0]) }),
    "the held event is JSON.stringify's text of the event",
  );
  assert.equal(JSON.parse(bodies[0]).workgroup, 'a:one "quoted" \\ ü');
  assert.deepEqual(JSON.parse(bodies[0]).members[1], {
    dn: "cn=Ünïcode \\2C x,o=y",
    id: "Ünïcode , x",
    uid: null,
  });
});
