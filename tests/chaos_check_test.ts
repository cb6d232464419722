/**
 * The chaos checker (tasks/chaos/check.ts) on hand-made calls: the
 * comparison must be able to fail — one delivered event dropped is reported
 * as a mismatch naming the workgroup and the member.
 */
import assert from "node:assert/strict";
import {
  compare,
  type DemoCall,
  parseCalls,
  parseDirectory,
  rebuild,
} from "../tasks/chaos/check.ts";

const FIELDS = ["type", "workgroup", "member.dn", "previous", "id", "csn"];
const dn = (uid: string) => `uid=${uid},ou=people,dc=example,dc=edu`;

function call(
  type: string,
  workgroup: string,
  options: {
    id: string;
    csn: string;
    member?: string;
    previous?: string;
    members?: string[];
    exitCode?: number;
  },
): DemoCall {
  return {
    argv: [
      "demo",
      type,
      workgroup,
      options.member ?? "",
      options.previous ?? "",
      options.id,
      options.csn,
    ],
    stdin: options.members === undefined
      ? ""
      : JSON.stringify(options.members.map((m) => ({ dn: m, id: m }))),
    exitCode: options.exitCode ?? 0,
  };
}

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

Deno.test("dropping one delivered event is reported as a mismatch naming the workgroup and member", () => {
  const events = parseCalls(TEXT, FIELDS).filter((e) => e.id !== "e8");
  const rebuilt = rebuild(events);
  assert.deepEqual(compare(rebuilt.memberships, DIRECTORY), [{
    workgroup: "uit:c",
    missing: [dn("u7")],
    unexpected: [],
    inDirectory: true,
    downstream: true,
  }]);
});

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

Deno.test("a stale event of a lagging consumer (another id, an older csn) breaks the arrival-order rebuild; a csn-guarded one skips it", () => {
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
  const guarded = rebuild(events, { csnGuard: true });
  assert.deepEqual(
    [
      compare(guarded.memberships, directory),
      guarded.orderViolations,
      guarded.stale,
    ],
    [[], [], 1],
  );
});
