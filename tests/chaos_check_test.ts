/**
 * The chaos checker (tasks/chaos/check.ts, tasks/chaos/downstream.ts) on
 * hand-made calls: the comparison must be able to fail — one delivered event
 * dropped is reported as a mismatch naming the workgroup and the member, by
 * the arrival-order rebuild and by the csn-ordered downstream that is the
 * verdict; a stale event (another id, an older csn) is skipped by the latter.
 */
import assert from "node:assert/strict";
import {
  compare,
  type DemoCall,
  parseCalls,
  parseDirectory,
  rebuild,
} from "../tasks/chaos/check.ts";
import { rebuildByCsn } from "../tasks/chaos/downstream.ts";
import { call, calls, dn, FIELDS } from "./helpers/chaos_calls.ts";

/** A history over two workgroups: created, members, a failed call retried, a duplicate, a rename, a snapshot. */
const CALLS: DemoCall[] = [
  call("workgroup.created", "uit:a", {
    id: "e1",
    csn: "c01",
    members: [dn("u1"), dn("u2")],
  }),
  call("member.added", "uit:a", { id: "e2", csn: "c02", member: dn("u3") }),
  call("member.removed", "uit:a", { id: "e3", csn: "c03", member: dn("u1") }),
  call("member.removed", "uit:a", {
    id: "e3",
    csn: "c03",
    member: dn("u1"),
    exitCode: 0,
  }),
  call("workgroup.created", "uit:b", {
    id: "e4",
    csn: "c04",
    members: [dn("u9")],
  }),
  call("member.added", "uit:b", {
    id: "e5",
    csn: "c05",
    member: dn("u8"),
    exitCode: 3,
  }),
  call("member.added", "uit:b", { id: "e5", csn: "c05", member: dn("u8") }),
  call("workgroup.renamed", "uit:c", {
    id: "e6",
    csn: "c06",
    previous: "uit:b",
  }),
  call("workgroup.snapshot", "uit:a", {
    id: "e7",
    csn: "c07",
    members: [dn("u2"), dn("u3"), dn("u4")],
  }),
  call("member.added", "uit:c", { id: "e8", csn: "c08", member: dn("u7") }),
];
const TEXT = CALLS.map((c) => JSON.stringify(c)).join("\n") + "\n";

const DIRECTORY = new Map([
  ["uit:a", [dn("u2"), dn("u3"), dn("u4")]],
  ["uit:c", [dn("u9"), dn("u8"), dn("u7")].map((m) => m.toUpperCase())],
]);

Deno.test("the rebuilt memberships equal the directory's: duplicates suppressed, failed calls not applied", () => {
  const rebuilt = rebuild(parseCalls(TEXT, FIELDS));
  assert.deepEqual(
    {
      delivered: rebuilt.delivered,
      applied: rebuilt.applied,
      duplicates: rebuilt.duplicates,
      failed: rebuilt.failed,
      orderViolations: rebuilt.orderViolations,
    },
    { delivered: 9, applied: 8, duplicates: 1, failed: 1, orderViolations: [] },
  );
  assert.deepEqual(compare(rebuilt.memberships, DIRECTORY), []);
});

Deno.test("the csn-ordered downstream rebuilds the same history exactly: duplicates suppressed, failed calls not applied, nothing stale", () => {
  const rebuilt = rebuildByCsn(parseCalls(TEXT, FIELDS));
  assert.deepEqual(
    {
      delivered: rebuilt.delivered,
      applied: rebuilt.applied,
      duplicates: rebuilt.duplicates,
      failed: rebuilt.failed,
      stale: rebuilt.stale,
    },
    { delivered: 9, applied: 8, duplicates: 1, failed: 1, stale: 0 },
  );
  assert.deepEqual(compare(rebuilt.memberships, DIRECTORY), []);
});

for (
  const [name, rebuildWith] of [["arrival-order", rebuild], [
    "csn-ordered",
    rebuildByCsn,
  ]] as const
) {
  Deno.test(`dropping one delivered event is reported as a mismatch naming the workgroup and member (${name} downstream)`, () => {
    const events = parseCalls(TEXT, FIELDS).filter((e) => e.id !== "e8");
    const rebuilt = rebuildWith(events);
    assert.deepEqual(compare(rebuilt.memberships, DIRECTORY), [{
      workgroup: "uit:c",
      missing: [dn("u7")],
      unexpected: [],
      inDirectory: true,
      downstream: true,
    }]);
  });
}

Deno.test("dropping the rename leaves the old workgroup downstream and the new one missing", () => {
  const events = parseCalls(TEXT, FIELDS).filter((e) => e.id !== "e6");
  const mismatches = compare(rebuild(events).memberships, DIRECTORY);
  assert.deepEqual(mismatches.map((m) => [m.workgroup, m.inDirectory]), [
    ["uit:b", false],
    ["uit:c", true],
  ]);
});

Deno.test("member events out of csn order within a workgroup are reported", () => {
  const events = parseCalls(TEXT, FIELDS);
  const [e2, e3] = [events[1], events[2]];
  events[1] = e3;
  events[2] = e2;
  assert.deepEqual(rebuild(events).orderViolations, [{
    workgroup: "uit:a",
    before: { id: "e3", type: "member.removed", csn: "c03" },
    after: { id: "e2", type: "member.added", csn: "c02" },
  }]);
});

Deno.test("a member change of the old name executed after the rename is an order violation and a mismatch", () => {
  const events = parseCalls(TEXT, FIELDS);
  // e5 (uit:b, c05) executed after e6 (renamed uit:b -> uit:c, c06).
  const e5 = events.findIndex((e) => e.id === "e5" && e.succeeded);
  const [late] = events.splice(e5, 1);
  events.splice(events.findIndex((e) => e.id === "e6") + 1, 0, late);
  const rebuilt = rebuild(events);
  assert.deepEqual(rebuilt.orderViolations, [{
    workgroup: "uit:b",
    before: { id: "e6", type: "workgroup.renamed", csn: "c06" },
    after: { id: "e5", type: "member.added", csn: "c05" },
  }]);
  assert.deepEqual(
    compare(rebuilt.memberships, DIRECTORY).map((m) => [
      m.workgroup,
      m.missing,
      m.unexpected,
    ]),
    [["uit:b", [], [dn("u8")]], ["uit:c", [dn("u8")], []]],
  );
});

Deno.test("a workgroup downstream that the directory no longer has is a mismatch; include narrows the comparison", () => {
  const rebuilt = rebuild(parseCalls(TEXT, FIELDS));
  const directory = new Map(DIRECTORY);
  directory.delete("uit:a");
  directory.set("law:x", [dn("u1")]);
  assert.deepEqual(
    compare(rebuilt.memberships, directory, (name) => name.startsWith("uit:")),
    [{
      workgroup: "uit:a",
      missing: [],
      unexpected: [dn("u2"), dn("u3"), dn("u4")],
      inDirectory: false,
      downstream: true,
    }],
  );
});

Deno.test("parseDirectory reads plain and base64 values (non-ASCII names)", () => {
  const name = "uit:équipe 研究";
  const b64 = btoa(String.fromCharCode(...new TextEncoder().encode(name)));
  const ldif = [
    `dn:: ${btoa("cn=x")}`,
    `cn:: ${b64}`,
    `member: ${dn("u1")}`,
    `member: ${dn("u2")}`,
    "",
    "dn: cn=uit:empty,ou=workgroups,dc=example,dc=edu",
    "cn: uit:empty",
    "",
  ].join("\n");
  assert.deepEqual(
    parseDirectory(ldif),
    new Map([[name, [dn("u1"), dn("u2")]], ["uit:empty", []]]),
  );
});

Deno.test("a call without an id is refused with the arguments named", () => {
  assert.throws(
    () =>
      parseCalls(JSON.stringify({ argv: ["demo", "member.added"] }), FIELDS),
    {
      name: "TypeError",
      message:
        'Cannot read the call ["demo","member.added"] as an event: expected id, type and workgroup in the arguments ["type","workgroup","member.dn","previous","id","csn"]',
    },
  );
});

Deno.test("a stale event of a lagging consumer (another id, an older csn) breaks the arrival-order rebuild; the csn-ordered downstream skips it", () => {
  // Consumer A: x added (c10), x removed (c12). Consumer B caught up by a
  // refresh at c11 and published "x added" with the entry's csn c11 (a new
  // id) late, after A's removal.
  const calls = [
    call("workgroup.created", "uit:g", {
      id: "g1",
      csn: "c09",
      members: [dn("u1")],
    }),
    call("member.added", "uit:g", { id: "a1", csn: "c10", member: dn("x") }),
    call("member.removed", "uit:g", { id: "a2", csn: "c12", member: dn("x") }),
    call("member.added", "uit:g", { id: "b1", csn: "c11", member: dn("x") }),
  ];
  const events = parseCalls(
    calls.map((c) => JSON.stringify(c)).join("\n"),
    FIELDS,
  );
  const directory = new Map([["uit:g", [dn("u1")]]]);
  const arrival = rebuild(events);
  assert.deepEqual(
    [
      compare(arrival.memberships, directory).length,
      arrival.orderViolations.length,
    ],
    [1, 1],
  );
  const guarded = rebuildByCsn(events);
  assert.deepEqual(
    [compare(guarded.memberships, directory), guarded.stale],
    [[], 1],
  );
  // The same history with A's removal lost: the csn-ordered downstream
  // reports it (x stays a member), the stale event did not hide it.
  const lost = rebuildByCsn(events.filter((e) => e.id !== "a2"));
  assert.deepEqual(
    compare(lost.memberships, directory).map((m) => [
      m.workgroup,
      m.unexpected,
    ]),
    [["uit:g", [dn("x")]]],
  );
});

/**
 * What one stem's FIFO group delivers, in directory order: a change of g0
 * still pending when g0 is renamed to g9; g1 deleted and re-created by
 * another entry; g3 deleted and g2 renamed into the freed name.
 */
const STEM_ORDER = [
  call("workgroup.created", "uit:g0", { id: "a", csn: "c01", members: [] }),
  call("workgroup.created", "uit:g1", {
    id: "b",
    csn: "c02",
    members: [dn("u1")],
  }),
  call("workgroup.created", "uit:g2", { id: "c", csn: "c03", members: [] }),
  call("workgroup.created", "uit:g3", {
    id: "d",
    csn: "c04",
    members: [dn("u3")],
  }),
  call("member.added", "uit:g0", { id: "e", csn: "c05", member: dn("x0") }),
  call("workgroup.renamed", "uit:g9", {
    id: "f",
    csn: "c06",
    previous: "uit:g0",
  }),
  call("member.added", "uit:g9", { id: "g", csn: "c07", member: dn("x9") }),
  call("workgroup.deleted", "uit:g1", { id: "h", csn: "c08" }),
  call("workgroup.created", "uit:g1", {
    id: "i",
    csn: "c09",
    members: [dn("z1")],
  }),
  call("member.added", "uit:g2", { id: "j", csn: "c10", member: dn("x2") }),
  call("workgroup.deleted", "uit:g3", { id: "k", csn: "c11" }),
  call("workgroup.renamed", "uit:g3", {
    id: "l",
    csn: "c12",
    previous: "uit:g2",
  }),
  call("member.added", "uit:g3", { id: "m", csn: "c13", member: dn("y3") }),
];
const STEM_DIRECTORY = new Map([
  ["uit:g9", [dn("x0"), dn("x9")]],
  ["uit:g1", [dn("z1")]],
  ["uit:g3", [dn("x2"), dn("y3")]],
]);

Deno.test("in stem order, renames with a pending change of the old name, a re-created name and a rename into a freed name rebuild exactly, in arrival order and by csn", () => {
  const events = calls(STEM_ORDER);
  const arrival = rebuild(events);
  assert.deepEqual(
    [compare(arrival.memberships, STEM_DIRECTORY), arrival.orderViolations],
    [[], []],
  );
  const byCsn = rebuildByCsn(events);
  assert.deepEqual(
    [compare(byCsn.memberships, STEM_DIRECTORY), byCsn.stale],
    [[], 0],
  );
});

Deno.test("the old name's change run after the rename (a workgroup's own FIFO group) is a mismatch in arrival order; by csn it reaches the renamed workgroup", () => {
  const events = calls(STEM_ORDER);
  const late = events.splice(events.findIndex((e) => e.id === "e"), 1);
  events.splice(events.findIndex((e) => e.id === "f") + 1, 0, ...late);
  const names = (rebuilt: ReturnType<typeof rebuild>) =>
    compare(rebuilt.memberships, STEM_DIRECTORY).map((m) => [
      m.workgroup,
      m.missing,
      m.unexpected,
    ]);
  // Arrival order: x0 lands on the old name, which comes back.
  assert.deepEqual(names(rebuild(events)), [
    ["uit:g0", [], [dn("x0")]],
    ["uit:g9", [dn("x0")], []],
  ]);
  // By csn: x0's change (c05) is older than the rename (c06) that took g0
  // to g9, so it is the renamed entry's: g9 gets x0.
  const byCsn = rebuildByCsn(events);
  assert.deepEqual([names(byCsn), byCsn.stale], [[], 0]);
});

Deno.test("the old entry's deletion run after the name was re-created: a mismatch in arrival order; by csn it is older than the creation and skipped", () => {
  const events = calls(STEM_ORDER);
  const late = events.splice(events.findIndex((e) => e.id === "h"), 1);
  events.splice(events.findIndex((e) => e.id === "i") + 1, 0, ...late);
  const arrival = rebuild(events);
  assert.deepEqual(
    compare(arrival.memberships, STEM_DIRECTORY).map((m) => [
      m.workgroup,
      m.downstream,
    ]),
    [["uit:g1", false]],
  );
  assert.equal(arrival.orderViolations.length, 1);
  const byCsn = rebuildByCsn(events);
  assert.deepEqual(
    [compare(byCsn.memberships, STEM_DIRECTORY), byCsn.stale],
    [[], 1],
  );
});

Deno.test("a refresh that re-created a re-used name: created, the old entry's deletion under the refresh's later csn, the snapshot — exact by csn too", () => {
  // wgsync-ldap after a restart: g1's old entry was deleted and a new one
  // created (csn c21) meanwhile; the refresh reports the new entry, then the
  // deletion with the refresh cookie's csn (c30), then g1's snapshot (c21).
  const events = calls([
    call("workgroup.created", "uit:g1", {
      id: "old",
      csn: "c10",
      members: [dn("u1")],
    }),
    call("workgroup.created", "uit:g1", {
      id: "new",
      csn: "c21",
      members: [dn("u2")],
    }),
    call("workgroup.deleted", "uit:g1", { id: "del", csn: "c30" }),
    call("workgroup.snapshot", "uit:g1", {
      id: "snap",
      csn: "c21",
      members: [dn("u2")],
    }),
  ]);
  const directory = new Map([["uit:g1", [dn("u2")]]]);
  assert.deepEqual(compare(rebuild(events).memberships, directory), []);
  assert.deepEqual(compare(rebuildByCsn(events).memberships, directory), []);
});

Deno.test("a lagging pair's late copy of a rename (another id, a later csn) is skipped by csn; in arrival order it empties the new name", () => {
  const events = calls([
    ...STEM_ORDER,
    call("workgroup.renamed", "uit:g9", {
      id: "f-copy",
      csn: "c07",
      previous: "uit:g0",
    }),
  ]);
  assert.deepEqual(
    compare(rebuild(events).memberships, STEM_DIRECTORY).map((m) => [
      m.workgroup,
      m.missing,
    ]),
    [["uit:g9", [dn("x0"), dn("x9")]]],
  );
  const byCsn = rebuildByCsn(events);
  assert.deepEqual(
    [compare(byCsn.memberships, STEM_DIRECTORY), byCsn.stale],
    [[], 1],
  );
});

Deno.test("the csn-ordered downstream refuses calls without a csn", () => {
  const events = parseCalls(
    JSON.stringify(call("member.added", "uit:a", { id: "n", csn: "" })),
    FIELDS,
  );
  assert.throws(() => rebuildByCsn(events), {
    name: "TypeError",
    message:
      "Cannot order event n by csn: the call carries none (the command must pass {csn})",
  });
});
