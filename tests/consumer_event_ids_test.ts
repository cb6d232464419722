/**
 * Event ids derive from directory facts only: an entry leaving the scope twice
 * gets two deletions, and two stores fed the same messages agree.
 *
 * Apply tests feed SyncMessage sequences built in the test: the sync client
 * (lib/ldap/) yields these typed messages from a real slapd; the same
 * paths against a real slapd run in the ldap_role_*_test.ts files. node:sqlite is real.
 */

import assert from "node:assert/strict";
import { WorkgroupApplier } from "../lib/wgsync_ldap/mod.ts";
import { type WorkgroupEvent } from "../lib/events/mod.ts";
import {
  cookie,
  group,
  outbox,
  person,
  refreshEnd,
  withStore,
} from "./helpers/consumer.ts";
import { seeded } from "./helpers/workgroup_applier.ts";

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
