/**
 * What the appliers refuse or skip: names that are not stem:name, messages
 * outside a search, bad options.
 *
 * Apply tests feed SyncMessage sequences built in the test: the sync client
 * (lib/ldap/) yields these typed messages from a real slapd; the same
 * paths against a real slapd run in the ldap_role_*_test.ts files. node:sqlite is real.
 */

import assert from "node:assert/strict";
import { WorkgroupApplier } from "../lib/wgsync_ldap/mod.ts";
import {
  captureLogs,
  cookie,
  group,
  outbox,
  person,
  refreshEnd,
  text,
  withStore,
} from "./helpers/consumer.ts";
import { types } from "./helpers/workgroup_applier.ts";

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
