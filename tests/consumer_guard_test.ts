// Mass-deletion guard tests: a refresh built in the test (as the sync client
// would yield it from a provider sending a stripped present list) applied to
// a real node:sqlite store.

import assert from "node:assert/strict";
import {
  MassDeletionGuard,
  openStore,
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
} from "./helpers/consumer.ts";

const decoder = new TextDecoder();
const identity = { base: "ou=groups,dc=example,dc=org" };

/** A store with 20 workgroups after a first refresh (cookie csn 20). */
function seed(path: string): void {
  const { store } = openStore(path, { identity });
  const applier = new WorkgroupApplier(store);
  applier.beginSearch();
  for (let i = 1; i <= 20; i++) {
    applier.apply(group("add", i, `s:g${i}`, [person(`u${i}`)], i));
  }
  applier.apply(refreshEnd("present", 20));
  store.close();
}

/** A present-phase refresh reporting only `keep` of the 20 workgroups, one of them changed. */
function strippedRefresh(applier: WorkgroupApplier, keep: number) {
  applier.beginSearch();
  for (let i = 1; i <= keep; i++) {
    applier.apply(
      i === 1
        ? group("add", 1, "s:g1", [person("u1"), person("extra")], 21)
        : group("present", i, `s:g${i}`, [], 0),
    );
  }
  return applier.apply(refreshEnd("present", 22));
}

async function withDir(
  fn: (path: string) => Promise<void> | void,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-guard-test-" });
  try {
    await fn(`${dir}/store.sqlite`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a refresh that would delete more than 10% of the workgroups deletes nothing and keeps the old cookie", async () => {
  await withDir((path) => {
    seed(path);
    let { store } = openStore(path, { identity });
    const applier = new WorkgroupApplier(store);
    const before = outbox(store).length;
    const result = strippedRefresh(applier, 5);
    assert.deepEqual(result, {
      kind: "massDelete",
      verdict: {
        allowed: false,
        accepted: false,
        deletions: 15,
        workgroups: 20,
        share: 0.75,
        maxShare: 0.1,
      },
    });
    assert.equal(store.workgroupCount(), 20);
    assert.equal(
      decoder.decode(store.cookie("workgroups")),
      `rid=000,csn=${csn(20)}`,
    );
    assert.equal(
      outbox(store).filter((e) => e.type === "workgroup.deleted").length,
      0,
    );
    // The refresh's real modification is kept (it comes again, unchanged, next time).
    assert.deepEqual(outbox(store).slice(before).map((e) => e.type), [
      "member.added",
    ]);
    // The applier waits: nothing more is applied (a later cookie would skip the deletions).
    assert.throws(
      () =>
        applier.apply(
          group("modify", 2, "s:g2", [], 23, { cookie: cookie(23) }),
        ),
      /search is halted/,
    );
    store.close();
    // The next start without acceptMassDelete refuses again.
    ({ store } = openStore(path, { identity }));
    assert.equal(
      strippedRefresh(new WorkgroupApplier(store), 5).kind,
      "massDelete",
    );
    assert.equal(store.workgroupCount(), 20);
    store.close();
  });
});

Deno.test("acceptMassDelete lets one such refresh through, once", async () => {
  await withDir((path) => {
    seed(path);
    const { store } = openStore(path, { identity });
    const applier = new WorkgroupApplier(store, {
      guard: { acceptMassDelete: true },
    });
    const result = strippedRefresh(applier, 5);
    assert.equal(result.kind, "applied");
    assert.equal(result.kind === "applied" && result.deleted, 15);
    assert.equal(result.kind === "applied" && result.verdict?.accepted, true);
    assert.equal(store.workgroupCount(), 5);
    assert.equal(
      decoder.decode(store.cookie("workgroups")),
      `rid=000,csn=${csn(22)}`,
    );
    assert.equal(
      outbox(store).filter((e) => e.type === "workgroup.deleted").length,
      15,
    );
    // A second mass deletion in the same run is refused again.
    for (let i = 30; i < 40; i++) {
      applier.apply(
        group("add", i, `s:n${i}`, [], 100 + i, { cookie: cookie(100 + i) }),
      );
    }
    applier.beginSearch();
    applier.apply(group("present", 1, "s:g1", [], 0));
    assert.equal(applier.apply(refreshEnd("present", 200)).kind, "massDelete");
    assert.equal(store.workgroupCount(), 15);
    store.close();
  });
});

Deno.test("ID-set deletions of a refresh count toward the guard too", async () => {
  await withDir((path) => {
    seed(path);
    const { store } = openStore(path, { identity });
    const applier = new WorkgroupApplier(store);
    applier.beginSearch();
    applier.apply({
      kind: "idSet",
      entryUUIDs: [uuid(1), uuid(2), uuid(3)],
      refreshDeletes: true,
    });
    const result = applier.apply(refreshEnd("delete", 30));
    assert.equal(result.kind, "massDelete");
    assert.equal(result.kind === "massDelete" && result.verdict.deletions, 3);
    assert.equal(store.workgroupCount(), 20);
    store.close();
  });
});

Deno.test("a deletion share at the limit passes; one above it is refused", () => {
  const guard = new MassDeletionGuard({ maxShare: 0.1 });
  assert.equal(guard.check(2, 20).allowed, true);
  assert.equal(guard.check(3, 20).allowed, false);
  assert.equal(guard.check(0, 0).allowed, true);
  assert.equal(
    new MassDeletionGuard({ maxShare: 0 }).check(1, 1000).allowed,
    false,
  );
  assert.equal(
    new MassDeletionGuard({ maxShare: 1 }).check(1000, 1000).allowed,
    true,
  );
});

Deno.test("guard options are validated up front", () => {
  for (const maxShare of [-0.1, 1.5, Number.NaN]) {
    assert.throws(() => new MassDeletionGuard({ maxShare }), {
      name: "RangeError",
      message:
        `Cannot configure the mass-deletion guard as maxShare is invalid: maxShare is ${maxShare}, expected a number from 0 to 1`,
    });
  }
});
