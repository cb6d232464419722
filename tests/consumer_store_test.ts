// Store tests on a real node:sqlite database in a temporary directory.

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  identityFingerprint,
  openStore,
  SCHEMA_VERSION,
  WorkgroupApplier,
} from "../lib/wgsync_ldap/mod.ts";
import {
  cookie,
  group,
  outbox,
  person,
  refreshEnd,
  uuid,
} from "./helpers/consumer.ts";

const identity = {
  base: "ou=groups,dc=example,dc=org",
  filter: "(objectClass=groupOfNames)",
  bind: "ldap/wgsync@EXAMPLE.ORG",
};

async function withDir(
  fn: (dir: string) => Promise<void> | void,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-store-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Creates a store at `path` holding `n` workgroups, a cookie and their events. */
function populate(path: string, n: number): void {
  const { store } = openStore(path, { identity });
  const applier = new WorkgroupApplier(store);
  applier.beginSearch();
  for (let i = 1; i <= n; i++) {
    applier.apply(group("add", i, `s:g${i}`, [person(`u${i}`)], i));
  }
  applier.apply(refreshEnd("present", n));
  store.close();
}

Deno.test("a new store is in WAL mode and starts without cookie, rows or snapshot duty", async () => {
  await withDir((dir) => {
    const path = `${dir}/store.sqlite`;
    const { store, rebuilt } = openStore(path, { identity });
    assert.equal(rebuilt, undefined);
    assert.equal(store.cookie("workgroups"), undefined);
    assert.equal(store.cookie("people"), undefined);
    assert.equal(store.snapshotPending, false);
    assert.equal(store.workgroupCount(), 0);
    assert.equal(store.outboxDepth(), 0);
    store.close();
    const db = new DatabaseSync(path);
    assert.equal(db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
    assert.equal(db.prepare("PRAGMA page_size").get()?.page_size, 8192);
    db.close();
  });
});

Deno.test("a store reopened with the same identity keeps its cookie, rows and outbox", async () => {
  await withDir((dir) => {
    const path = `${dir}/store.sqlite`;
    populate(path, 3);
    const { store, rebuilt } = openStore(path, { identity: { ...identity } });
    assert.equal(rebuilt, undefined);
    assert.deepEqual(store.cookie("workgroups"), cookie(3));
    assert.equal(store.workgroupCount(), 3);
    assert.equal(outbox(store).length, 3);
    store.close();
  });
});

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

Deno.test("staged writes are not readable from the outbox before commit; rollback discards them", async () => {
  await withDir((dir) => {
    const { store } = openStore(`${dir}/store.sqlite`, { identity });
    const event = {
      v: 1 as const,
      id: "a".repeat(64),
      type: "workgroup.deleted" as const,
      workgroup: "s:g",
      stem: "s",
      csn: "",
      seq: store.nextPosition,
      observedAt: new Date().toISOString(),
    };
    const position = store.appendEvent(event);
    assert.equal(store.inBatch, true);
    assert.equal(store.readOutbox(0, 10).length, 0);
    store.rollback();
    assert.equal(store.outboxDepth(), 0);
    assert.equal(
      store.nextPosition,
      position,
      "a rolled back position is handed out again",
    );
    store.appendEvent(event);
    store.commit();
    assert.deepEqual(store.readOutbox(0, 10).map((row) => row.position), [
      position,
    ]);
    store.close();
  });
});

Deno.test("outbox positions are never reused, even after every row was acknowledged and the store reopened", async () => {
  await withDir((dir) => {
    const path = `${dir}/store.sqlite`;
    populate(path, 3);
    let { store } = openStore(path, { identity });
    const rows = store.readOutbox(0, 10);
    const last = rows.at(-1)!.position;
    store.deleteOutbox(rows.map((row) => row.position));
    assert.equal(store.outboxDepth(), 0);
    store.close();
    ({ store } = openStore(path, { identity }));
    assert.equal(store.nextPosition, last + 1);
    store.close();
  });
});

Deno.test("positions of a rebuilt store start above those of the store it replaced", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/store.sqlite`;
    populate(path, 3);
    let { store } = openStore(path, { identity });
    const last = store.readOutbox(0, 10).at(-1)!.position;
    store.close();
    await new Promise((resolve) => setTimeout(resolve, 2));
    ({ store } = openStore(path, { identity: { other: true } }));
    assert.ok(store.nextPosition > last);
    store.close();
  });
});

Deno.test("an invalid page size is refused with a clear error", async () => {
  await withDir((dir) => {
    assert.throws(
      () => openStore(`${dir}/store.sqlite`, { identity, pageSize: 5000 }),
      {
        name: "RangeError",
        message:
          "Cannot open the store as pageSize is invalid: pageSize is 5000, expected a power of two from 4096 to 65536",
      },
    );
  });
});

Deno.test("a closed store refuses writes with a clear error", async () => {
  await withDir((dir) => {
    const { store } = openStore(`${dir}/store.sqlite`, { identity });
    store.close();
    assert.throws(
      () => store.setCookie("workgroups", cookie(1)),
      /Cannot write to the store as it is closed/,
    );
  });
});

Deno.test("the workgroup and outbox counts follow inserts, invalid names, deletions, acknowledgements, rollbacks and a reopen", async () => {
  await withDir((dir) => {
    const path = `${dir}/store.sqlite`;
    populate(path, 5);
    const tables = () => {
      const db = new DatabaseSync(path, { readOnly: true });
      try {
        const n = (sql: string) => Number(db.prepare(sql).get()?.n);
        return {
          entries: n("SELECT count(*) AS n FROM workgroups"),
          valid: n("SELECT count(*) AS n FROM workgroups WHERE valid = 1"),
          outbox: n("SELECT count(*) AS n FROM outbox"),
        };
      } finally {
        db.close();
      }
    };
    const { store } = openStore(path, { identity });
    const counts = () => ({
      entries: store.entryCount(),
      valid: store.workgroupCount(),
      outbox: store.outboxDepth(),
    });
    const row = (n: number, valid = true) => ({
      entryUUID: uuid(n),
      dn: `cn=s:g${n},ou=groups,dc=example,dc=org`,
      name: valid ? `s:g${n}` : `g${n}`,
      valid,
      members: valid ? JSON.stringify([person(`u${n}`)]) : "[]",
      csn: `csn${n}`,
      seq: 1,
    });
    const event = (n: number) => ({
      v: 1 as const,
      id: `id${n}`,
      type: "member.added" as const,
      workgroup: `s:g${n}`,
      stem: "s",
      member: { dn: person(`u${n}`), id: `u${n}`, uid: null },
      csn: `csn${n}`,
      seq: 2,
      observedAt: "2026-01-01T00:00:00.000Z",
    });
    // Staged before the first count: the counts are read inside the batch.
    assert.equal(store.insertWorkgroup(row(6)), true);
    assert.deepEqual(counts(), { entries: 6, valid: 6, outbox: 5 });
    assert.equal(store.insertWorkgroup(row(6)), false, "a repeated insert");
    store.insertWorkgroup(row(7, false));
    store.appendEvent(event(7));
    assert.deepEqual(counts(), { entries: 7, valid: 6, outbox: 6 });
    store.rollback();
    assert.deepEqual(counts(), { entries: 5, valid: 5, outbox: 5 });
    assert.deepEqual(counts(), tables());
    store.insertWorkgroup(row(7, false));
    store.updateWorkgroup(row(1, false));
    store.updateWorkgroup(row(3));
    store.deleteWorkgroup(uuid(2));
    store.deleteWorkgroup(uuid(99));
    store.appendEvent(event(8));
    store.commit();
    assert.deepEqual(counts(), { entries: 5, valid: 3, outbox: 6 });
    assert.deepEqual(counts(), tables());
    const positions = store.readOutbox(0, 2).map((r) => r.position);
    store.deleteOutbox([...positions, positions[0]]);
    assert.deepEqual(counts(), { entries: 5, valid: 3, outbox: 4 });
    assert.deepEqual(counts(), tables());
    store.close();
    const reopened = openStore(path, { identity }).store;
    assert.deepEqual(
      {
        entries: reopened.entryCount(),
        valid: reopened.workgroupCount(),
        outbox: reopened.outboxDepth(),
      },
      tables(),
    );
    reopened.close();
  });
});

Deno.test("deleting acknowledged outbox rows keeps the unacknowledged ones between them", async () => {
  await withDir((dir) => {
    const path = `${dir}/store.sqlite`;
    populate(path, 8);
    const { store } = openStore(path, { identity });
    const positions = store.readOutbox(0, 100).map((row) => row.position);
    const [p1, p2, p3, p4, p5, p6, p7, p8] = positions;
    // Out of order, with runs and gaps, one position twice.
    store.deleteOutbox([p5, p1, p2, p4, p8, p5, p7]);
    assert.deepEqual(
      store.readOutbox(0, 100).map((row) => row.position),
      [p3, p6],
    );
    assert.equal(store.outboxDepth(), 2);
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

Deno.test("store files are created 0600 and made 0600 when found wider", async () => {
  await withDir((dir) => {
    const path = `${dir}/store.sqlite`;
    const mode = (file: string) => (Deno.statSync(file).mode! & 0o777);
    let { store } = openStore(path, { identity });
    store.close();
    assert.equal(mode(path), 0o600);
    Deno.chmodSync(path, 0o644);
    ({ store } = openStore(path, { identity }));
    assert.equal(mode(path), 0o600);
    assert.equal(mode(`${path}-wal`), 0o600);
    store.close();
  });
});
