/**
 * The people search behind member ids and uids: the PeopleApplier keeps the
 * people table current, reloads it on start, and follows present-phase
 * deletions.
 *
 * Apply tests feed SyncMessage sequences built in the test: the sync client
 * (lib/ldap/) yields these typed messages from a real slapd; the same
 * paths against a real slapd run in the ldap_role_*_test.ts files. node:sqlite is real.
 */

import assert from "node:assert/strict";
import {
  MemberDirectory,
  openStore,
  PeopleApplier,
  WorkgroupApplier,
} from "../lib/wgsync_ldap/mod.ts";
import {
  cookie,
  csn,
  group,
  outbox,
  person,
  refreshEnd,
  uuid,
  withStore,
} from "./helpers/consumer.ts";

const decoder = new TextDecoder();

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
