/**
 * Opening the consumer's store: a new store in WAL mode, a reopen keeping
 * everything, bad options and a closed store refused, file modes 0600.
 *
 * Store tests on a real node:sqlite database in a temporary directory.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openStore } from "../lib/wgsync_ldap/mod.ts";
import { cookie, outbox } from "./helpers/consumer.ts";
import { identity, populate, withDir } from "./helpers/consumer_store.ts";

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
