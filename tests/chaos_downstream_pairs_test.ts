/**
 * The csn-ordered downstream (tasks/chaos/downstream.ts) on renames and
 * deletions as two active-active consumer pairs deliver them: a lagging pair
 * sees an entry later, under its current name and the csn of its latest
 * change, so its copy of a rename or deletion has another id and csn than
 * the live pair's. Each history is cut down from a two-pair full chaos run
 * (2026-12-02, seeds 1796180227977 and 1796180434526) in which the model
 * left a workgroup downstream that the directory no longer had, or a member
 * it had removed.
 */
import assert from "node:assert/strict";
import { compare } from "../tasks/chaos/check.ts";
import { rebuildByCsn } from "../tasks/chaos/downstream.ts";
import { call, calls, dn } from "./helpers/chaos_calls.ts";

Deno.test("a rename after the lagging pair's deletion under the old name: the new name's own later deletion still applies", () => {
  // The entry, named uit:old, was renamed to uit:new (c54) and deleted
  // (c57). The lagging pair never saw the rename: its refresh deleted the
  // entry under the old name with the cookie's csn (c60), delivered first.
  const events = calls([
    call("workgroup.created", "uit:old", {
      id: "a1",
      csn: "c10",
      members: [dn("u1")],
    }),
    call("workgroup.deleted", "uit:old", { id: "b1", csn: "c60" }),
    call("workgroup.renamed", "uit:new", {
      id: "a2",
      csn: "c54",
      previous: "uit:old",
    }),
    call("workgroup.deleted", "uit:new", { id: "a3", csn: "c57" }),
  ]);
  assert.deepEqual(compare(rebuildByCsn(events).memberships, new Map()), []);
});

Deno.test("a rename into a name the lagging pair created already: the old name still goes", () => {
  // The lagging pair first saw the entry after its rename and sent it as
  // created under the new name.
  const events = calls([
    call("workgroup.created", "uit:old", {
      id: "a1",
      csn: "c45",
      members: [dn("u1")],
    }),
    call("workgroup.created", "uit:new", {
      id: "b1",
      csn: "c61",
      members: [dn("u1")],
    }),
    call("workgroup.renamed", "uit:new", {
      id: "a2",
      csn: "c60",
      previous: "uit:old",
    }),
  ]);
  assert.deepEqual(
    compare(
      rebuildByCsn(events).memberships,
      new Map([["uit:new", [dn("u1")]]]),
    ),
    [],
  );
});

Deno.test("a late copy of a rename into a name deleted since does not bring it back", () => {
  // The live pair saw the rename coalesced with a later change (c44), then
  // the deletion (c47); the lagging pair's copy has the rename's own csn.
  const events = calls([
    call("workgroup.created", "uit:old", {
      id: "a1",
      csn: "c40",
      members: [dn("u1")],
    }),
    call("workgroup.renamed", "uit:new", {
      id: "a2",
      csn: "c44",
      previous: "uit:old",
    }),
    call("workgroup.deleted", "uit:new", { id: "a3", csn: "c47" }),
    call("workgroup.renamed", "uit:new", {
      id: "b1",
      csn: "c43",
      previous: "uit:old",
    }),
  ]);
  const rebuilt = rebuildByCsn(events);
  assert.deepEqual(
    [compare(rebuilt.memberships, new Map()), rebuilt.stale],
    [[], 1],
  );
});

Deno.test("a lagging copy of a rename with a later csn hides no member change made after the rename", () => {
  // x was added, the entry renamed (c49), x removed (c52); the lagging
  // pair's copy of the rename carries c60.
  const events = calls([
    call("workgroup.created", "uit:old", {
      id: "a1",
      csn: "c47",
      members: [dn("u1"), dn("x")],
    }),
    call("workgroup.renamed", "uit:new", {
      id: "b1",
      csn: "c60",
      previous: "uit:old",
    }),
    call("workgroup.renamed", "uit:new", {
      id: "a2",
      csn: "c49",
      previous: "uit:old",
    }),
    call("member.removed", "uit:new", {
      id: "a3",
      csn: "c52",
      member: dn("x"),
    }),
  ]);
  assert.deepEqual(
    compare(
      rebuildByCsn(events).memberships,
      new Map([["uit:new", [dn("u1")]]]),
    ),
    [],
  );
});

Deno.test("a member change of the old name delivered after the rename, older than it, reaches the renamed workgroup", () => {
  // x added (c61) and removed (c65), the entry renamed (c71). The pair that
  // saw the removal published it late, after the other pair's copy of the
  // rename (coalesced, c72).
  const events = calls([
    call("workgroup.created", "uit:old", {
      id: "a1",
      csn: "c59",
      members: [dn("u1")],
    }),
    call("member.added", "uit:old", { id: "b1", csn: "c61", member: dn("x") }),
    call("workgroup.renamed", "uit:new", {
      id: "a2",
      csn: "c72",
      previous: "uit:old",
    }),
    call("member.removed", "uit:old", {
      id: "b2",
      csn: "c65",
      member: dn("x"),
    }),
    call("workgroup.renamed", "uit:new", {
      id: "b3",
      csn: "c71",
      previous: "uit:old",
    }),
  ]);
  assert.deepEqual(
    compare(
      rebuildByCsn(events).memberships,
      new Map([["uit:new", [dn("u1")]]]),
    ),
    [],
  );
});
