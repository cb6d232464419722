/**
 * The storage floor of a first refresh: bare `node:sqlite` inserting rows of
 * the shape wgsync-ldap writes for the stack's directory (one workgroup row
 * with its member list as JSON and one held `workgroup.created` outbox row a
 * workgroup), into a new file with the store's own schema and tuning (WAL,
 * synchronous NORMAL, 8 KiB pages, a 16 MiB cache, no automatic checkpoints,
 * the held-members index built at the end), committed every 10,000
 * workgroups as the refresh does. No LDAP, no event derivation: what any
 * consumer keeping this state durably pays at least, printed beside
 * ldapsearch so a ratio goal can be read against it.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { HELD_INDEX, SCHEMA } from "../../lib/wgsync_ldap/store/schema.ts";
import type { StackInfo } from "../stack/types.ts";

const BATCH = 10_000;

/** Milliseconds to insert and commit the rows of the stack's workgroups into a new store file. */
export async function storeFloor(stack: StackInfo): Promise<number> {
  const groups = stack.data.workgroups;
  const members = Math.round(stack.data.memberValues / groups);
  const dir = await Deno.makeTempDir({ prefix: "wgsync-bench-floor-" });
  const db = new DatabaseSync(`${dir}/store.sqlite`);
  try {
    db.exec("PRAGMA page_size = 8192");
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec(SCHEMA);
    db.exec("DROP INDEX outbox_members_of");
    db.exec("PRAGMA wal_autocheckpoint = 0");
    db.exec("PRAGMA cache_size = -16384");
    const workgroup = db.prepare(
      "INSERT INTO workgroups (entry_uuid, dn, name, valid, members, csn, seq) VALUES (?, ?, ?, 1, ?, ?, ?)",
    );
    const outbox = db.prepare(
      "INSERT INTO outbox (position, id, workgroup, body, members_of) VALUES (?, ?, ?, ?, ?)",
    );
    const base = stack.ldap.workgroupBase;
    const people = stack.ldap.peopleBase;
    const csn = "20261202000000.000000Z#000000#000#000000";
    const id = "0".repeat(64);
    // The rows are made before the clock starts: their text is the
    // directory's, not storage work.
    const rows = Array.from({ length: groups }, (_, i) => {
      const name = `stem${i % 100}:group${i}`;
      return {
        uuid: crypto.randomUUID(),
        name,
        dn: `cn=${name},${base}`,
        members: JSON.stringify(
          Array.from(
            { length: members },
            (_, j) => `uid=user${(i * 7 + j) % 100_000},${people}`,
          ),
        ),
        body:
          `{"v":1,"id":"${id}","type":"workgroup.created","workgroup":"${name}","stem":"stem${
            i % 100
          }","members":null,"csn":"${csn}","seq":${
            i + 1
          },"observedAt":"2026-12-02T00:00:00.000Z"}`,
      };
    });
    const started = performance.now();
    db.exec("BEGIN");
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      workgroup.run(row.uuid, row.dn, row.name, row.members, csn, i + 1);
      outbox.run(i + 1, id, row.name, row.body, row.uuid);
      if ((i + 1) % BATCH === 0) {
        db.exec("COMMIT");
        db.exec("BEGIN");
      }
    }
    db.exec(HELD_INDEX);
    db.exec("COMMIT");
    return performance.now() - started;
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
}
