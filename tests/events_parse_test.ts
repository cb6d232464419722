import assert from "node:assert/strict";
import { EventParseError, parseEvent } from "../lib/events/mod.ts";

const ID = "a".repeat(64);
const added = {
  v: 1,
  id: ID,
  type: "member.added",
  workgroup: "research-computing:sherlock",
  stem: "research-computing",
  member: { dn: "uid=ann,ou=people,dc=x", id: "ann", uid: "ann" },
  csn: "20261201000000.000000Z#000000#000#000000",
  seq: 3,
  observedAt: "2026-12-01T20:00:00.000Z",
};

function refused(body: unknown, field: string, message: string) {
  assert.throws(
    () => parseEvent(typeof body === "string" ? body : JSON.stringify(body)),
    (error: unknown) => {
      assert.ok(error instanceof EventParseError);
      assert.equal(error.field, field);
      assert.equal(error.message, message);
      return true;
    },
  );
}

Deno.test("parseEvent returns a valid event unchanged", () => {
  assert.deepEqual(parseEvent(JSON.stringify(added)), added);
  const created = {
    ...added,
    type: "workgroup.created",
    member: undefined,
    members: [{ dn: "cn=x", id: "x", uid: null }],
  };
  assert.deepEqual(
    parseEvent(JSON.stringify(created)),
    JSON.parse(JSON.stringify(created)),
  );
});

Deno.test("parseEvent refuses a body that is not a JSON object", () => {
  refused(
    "not json",
    "",
    `Cannot read the event as its body is not JSON: Unexpected token 'o', "not json" is not valid JSON`,
  );
  refused(
    [1],
    "",
    "Cannot read the event as its body is not a JSON object: got an array",
  );
});

Deno.test("parseEvent names the field and what was expected", () => {
  refused(
    { ...added, v: 2 },
    "v",
    'Cannot read the event as field "v" is invalid: Invalid input: expected 1',
  );
  refused(
    { ...added, member: { ...added.member, dn: 5 } },
    "member.dn",
    'Cannot read the event as field "member.dn" is invalid: Invalid input: expected string, received number',
  );
  refused(
    { ...added, id: "xyz" },
    "id",
    'Cannot read the event as field "id" is invalid: expected 64 lowercase hex digits (SHA-256)',
  );
  const { seq: _seq, ...noSeq } = added;
  refused(
    noSeq,
    "seq",
    'Cannot read the event as field "seq" is invalid: Invalid input: expected number, received undefined',
  );
  refused(
    { ...added, extra: 1 },
    "extra",
    'Cannot read the event: unknown field "extra" (schema v1 has none)',
  );
});

Deno.test("parseEvent requires each type's own field and a matching stem", () => {
  refused(
    { ...added, member: undefined },
    "member",
    'Cannot read the event as field "member" is missing: a member.added event carries it',
  );
  refused(
    { ...added, type: "workgroup.renamed", member: undefined },
    "previous",
    'Cannot read the event as field "previous" is missing: a workgroup.renamed event carries it',
  );
  refused(
    { ...added, stem: "uit" },
    "stem",
    'Cannot read the event as field "stem" is invalid: expected the part of the workgroup "research-computing:sherlock" before its first ":", got "uit"',
  );
});
