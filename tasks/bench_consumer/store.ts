/**
 * The store scenario of `tasks/bench_consumer.ts`: a first refresh of G
 * workgroups × M members applied to a fresh store (entries/s, peak RSS,
 * store size), beside the same rows inserted with bare node:sqlite.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { openStore, WorkgroupApplier } from "../../lib/wgsync_ldap/mod.ts";
import {
  memberDns,
  refreshMessages,
  sizeOf,
  tempDir,
  uuid,
  vmHwmKb,
} from "./data.ts";

/** The store scenario: a first refresh into a fresh store beside bare node:sqlite. */
export async function scenarioStore(
  groups: number,
  members: number,
  { pageSize }: { pageSize: number },
) {
  const dir = await tempDir();
  try {
    // Anchor: the same rows with bare node:sqlite, one transaction.
    const anchorPath = `${dir}/anchor.sqlite`;
    const db = new DatabaseSync(anchorPath);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec(
      "CREATE TABLE t (u TEXT PRIMARY KEY, dn TEXT, name TEXT, members TEXT)",
    );
    const ins = db.prepare("INSERT INTO t VALUES (?, ?, ?, ?)");
    let t0 = performance.now();
    db.exec("BEGIN");
    for (let i = 0; i < groups; i++) {
      const name = `stem${i % 100}:group${i}`;
      ins.run(
        uuid(i),
        `cn=${name},ou=groups,dc=example,dc=org`,
        name,
        JSON.stringify(memberDns(i, members)),
      );
    }
    db.exec("COMMIT");
    const anchorMs = performance.now() - t0;
    db.close();

    const path = `${dir}/store.sqlite`;
    const { store } = openStore(path, { identity: { bench: true }, pageSize });
    const applier = new WorkgroupApplier(store);
    t0 = performance.now();
    applier.beginSearch();
    let events = 0;
    for (const message of refreshMessages(groups, members)) {
      const result = applier.apply(message);
      if (result.kind === "applied") events += result.events;
    }
    const applyMs = performance.now() - t0;
    const walPeak = sizeOf(`${path}-wal`);
    t0 = performance.now();
    store.checkpoint();
    const checkpointMs = performance.now() - t0;
    const depth = store.outboxDepth();
    t0 = performance.now();
    store.close();
    const closeMs = performance.now() - t0;
    const size = sizeOf(path);
    t0 = performance.now();
    const reopened = openStore(path, { identity: { bench: true } });
    const openMs = performance.now() - t0;
    reopened.store.close();
    return {
      scenario: `store ${groups}×${members}`,
      applyMs: Math.round(applyMs),
      entriesPerSecond: Math.round(groups / (applyMs / 1000)),
      anchorBareSqliteMs: Math.round(anchorMs),
      events,
      outboxDepth: depth,
      storeMb: Math.round(size / 1048576),
      walPeakMb: Math.round(walPeak / 1048576),
      checkpointMs: Math.round(checkpointMs),
      closeMs: Math.round(closeMs),
      reopenIntegrityCheckMs: Math.round(openMs),
      peakRssMb: Math.round(vmHwmKb() / 1024),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
