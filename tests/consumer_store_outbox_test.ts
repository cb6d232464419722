/**
 * The consumer store's batches and outbox: staged writes, positions never
 * reused (also across a rebuild), the row counts, acknowledged rows deleted.
 *
 * Store tests on a real node:sqlite database in a temporary directory.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openStore } from "../lib/wgsync_ldap/mod.ts";
import { person, uuid } from "./helpers/consumer.ts";
import { identity, populate, withDir } from "./helpers/consumer_store.ts";

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
