/**
 * wgsync-ldap's control socket on the real stack: `wgsync-ldap snapshot
 * WORKGROUP` (the command line, through its own permissions) makes the
 * running role (with `--stdout`, so its outbox is read on standard output)
 * emit a `workgroup.snapshot` holding the directory's members, through its
 * normal outbox; `members WORKGROUP` lists the members ldapsearch finds
 * (with their uids), `workgroups QUERY` the workgroups; bad requests are
 * answered with an error and the role keeps serving. A 200,000-member
 * workgroup is listed from a real store over a real socket (no slapd: a
 * group that size takes minutes to load into it).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { WorkgroupEvent } from "../lib/events/mod.ts";
import { requestMembers, requestWorkgroups } from "../lib/control/mod.ts";
import { ControlServer, Resync } from "../lib/wgsync_ldap/control.ts";
import { Listing } from "../lib/wgsync_ldap/listing.ts";
import { dnKey, MemberDirectory } from "../lib/wgsync_ldap/member.ts";
import { openStore } from "../lib/wgsync_ldap/store/mod.ts";
import { ldapUtil } from "./helpers/ldap_admin.ts";
import { roleCommand } from "../tasks/launch.ts";
import {
  directoryMemberships,
  RoleProcess,
  until,
} from "./helpers/ldap_role.ts";
import { getStack, type StackInfo } from "./helpers/stack.ts";

const SOCKET = (stack: StackInfo) => `${stack.dir}/run/ldap-control.sock`;

async function snapshotCommand(
  stack: StackInfo,
  workgroup: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await roleCommand("ldap", {
    args: ["snapshot", workgroup, "--config", stack.config],
    extraRead: [stack.dir],
    extraWrite: [stack.dir],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout).trim(),
    stderr: decoder.decode(output.stderr),
  };
}

/** Sends raw bytes to the control socket; returns the answer line. */
async function raw(path: string, bytes: Uint8Array): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path });
  await conn.write(bytes);
  return (await new Response(conn.readable).text()).trim();
}

/** Every person's DN (lower-cased) → uid, as ldapsearch finds them. */
async function directoryUids(stack: StackInfo): Promise<Map<string, string>> {
  const out = await ldapUtil(stack, "ldapsearch", "", [
    "-LLL",
    "-o",
    "ldif-wrap=no",
    "-b",
    stack.ldap.peopleBase,
    "(uid=*)",
    "uid",
  ]);
  const uids = new Map<string, string>();
  for (const block of out.split(/\n\n+/)) {
    const dn = /^dn: (.+)$/m.exec(block)?.[1];
    const uid = /^uid: (.+)$/m.exec(block)?.[1];
    if (dn !== undefined && uid !== undefined) uids.set(dn.toLowerCase(), uid);
  }
  return uids;
}

function events(role: RoleProcess): WorkgroupEvent[] {
  return role.lines.map((line) => JSON.parse(line) as WorkgroupEvent);
}

Deno.test({
  name:
    "wgsync-ldap snapshot WORKGROUP: a snapshot of the directory's members through the outbox, on demand",
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  const stack = await getStack();
  const role = RoleProcess.start(stack, {
    dir: stack.dir,
    config: stack.config,
  }, { args: ["--stdout"] });
  try {
    await role.waitForLog(/Ready: /, 60_000);
    const workgroup = "uit:helpdesk";

    await t.step("the socket is mode 0660", async () => {
      assert.equal((await Deno.stat(SOCKET(stack))).mode! & 0o777, 0o660);
    });

    await t.step(
      "the command prints the id of a snapshot the role then sends",
      async () => {
        const before = events(role).filter((e) => e.workgroup === workgroup);
        const answer = await snapshotCommand(stack, workgroup);
        assert.equal(answer.code, 0, answer.stderr);
        assert.match(answer.stdout, /^[0-9a-f]{64}$/);
        await until(
          () => events(role).some((e) => e.id === answer.stdout),
          `the snapshot ${answer.stdout} on the role's stdout`,
        );
        const snapshot = events(role).find((e) => e.id === answer.stdout)!;
        const members = (await directoryMemberships(
          stack,
          stack.ldap.workgroupBase,
        )).get(workgroup);
        assert.deepEqual(
          {
            type: snapshot.type,
            workgroup: snapshot.workgroup,
            members: new Set(snapshot.members!.map((m) => m.dn.toLowerCase())),
          },
          { type: "workgroup.snapshot", workgroup, members },
        );
        assert.ok(
          before.every((e) => e.seq < snapshot.seq),
          "the snapshot's seq follows the workgroup's earlier events",
        );
      },
    );

    await t.step(
      "members WORKGROUP lists the directory's members with their uids",
      async () => {
        const expected = (await directoryMemberships(
          stack,
          stack.ldap.workgroupBase,
        )).get(workgroup)!;
        const uids = await directoryUids(stack);
        const answer = await requestMembers(SOCKET(stack), workgroup);
        assert.ok(expected.size > 0, "the stack's workgroup has members");
        assert.deepEqual(
          {
            total: answer?.total,
            members: new Map(
              answer?.members.map((m) => [m.dn.toLowerCase(), m.uid]),
            ),
          },
          {
            total: expected.size,
            members: new Map(
              [...expected].map((dn) => [dn, uids.get(dn) ?? null]),
            ),
          },
        );
        const limited = await requestMembers(SOCKET(stack), workgroup, {
          limit: 1,
        });
        assert.deepEqual(
          { shown: limited?.members.length, total: limited?.total },
          { shown: 1, total: expected.size },
        );
      },
    );

    await t.step(
      "workgroups QUERY lists matching workgroups by name with member counts",
      async () => {
        const memberships = await directoryMemberships(
          stack,
          stack.ldap.workgroupBase,
        );
        const expected = [...memberships]
          .filter(([name]) => name.includes(":") && /HELP/i.test(name))
          .map(([name, members]) => ({ name, members: members.size }))
          .sort((a, b) => a.name < b.name ? -1 : 1);
        assert.ok(expected.length > 0);
        assert.deepEqual(
          await requestWorkgroups(SOCKET(stack), "HELP"),
          expected,
        );
      },
    );

    await t.step(
      "members of an unknown workgroup: none, not an empty list",
      async () => {
        assert.equal(
          await requestMembers(SOCKET(stack), "uit:no-such-group"),
          undefined,
        );
        assert.equal(
          await raw(
            SOCKET(stack),
            new TextEncoder().encode("members uit:no-such-group\n"),
          ),
          'none Cannot list "uit:no-such-group" as the store has no such workgroup',
        );
      },
    );

    await t.step(
      "a second request is a new event (not de-duplicated away)",
      async () => {
        const first = await snapshotCommand(stack, workgroup);
        const second = await snapshotCommand(stack, workgroup);
        assert.deepEqual([first.code, second.code], [0, 0]);
        assert.notEqual(first.stdout, second.stdout);
        await until(
          () => events(role).some((e) => e.id === second.stdout),
          "the second snapshot on stdout",
        );
      },
    );

    await t.step(
      "an unknown workgroup or a bad request is refused; the role keeps serving",
      async () => {
        const unknown = await snapshotCommand(stack, "uit:no-such-group");
        assert.equal(unknown.code, 1);
        assert.match(
          unknown.stderr,
          /wgsync-ldap refused the snapshot of "uit:no-such-group": Cannot snapshot "uit:no-such-group" as the store has no such workgroup/,
        );
        const encoder = new TextEncoder();
        assert.deepEqual(
          [
            await raw(SOCKET(stack), encoder.encode("delete everything\n")),
            await raw(SOCKET(stack), encoder.encode("snapshot \n")),
            await raw(SOCKET(stack), encoder.encode("members\n")),
            await raw(SOCKET(stack), encoder.encode("workgroups a\tb\n")),
            await raw(SOCKET(stack), new Uint8Array(4097).fill(65)),
            await raw(SOCKET(stack), new Uint8Array([115, 32, 0xff, 10])),
          ],
          [
            'error Cannot answer the request as the command is unknown: command is "delete", expected "snapshot WORKGROUP", "members WORKGROUP" or "workgroups [QUERY]"',
            'error Cannot ask for a snapshot as the workgroup name is empty or has control characters: name is ""',
            'error Cannot ask for the members as the workgroup name is empty or has control characters: name is ""',
            'error Cannot ask for a list of workgroups as the query has control characters: query is "a\\tb"',
            "error Cannot read the request as it is longer than 4096 bytes",
            "error Cannot read the request as it is not UTF-8",
          ],
        );
        const after = await snapshotCommand(stack, workgroup);
        assert.equal(after.code, 0, after.stderr);
      },
    );

    await t.step(
      "the command without a workgroup is a usage error",
      async () => {
        const output = await roleCommand("ldap", {
          args: ["snapshot"],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(output.code, 64);
      },
    );
  } finally {
    assert.equal(await role.stop(), 0, role.stderr);
  }
  await t.step("the socket file is removed on stop", async () => {
    await assert.rejects(Deno.lstat(SOCKET(stack)), Deno.errors.NotFound);
  });
});

Deno.test(
  "members WORKGROUP streams a 200,000-member workgroup from the store; a client may keep only the first lines",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "wgsync-control-test-" });
    const { store } = openStore(`${dir}/store.sqlite`, {
      identity: {
        base: "ou=groups,dc=example,dc=org",
        filter: "(objectClass=groupOfNames)",
        bind: "ldap/wgsync@EXAMPLE.ORG",
      },
    });
    const dns = Array.from(
      { length: 200_000 },
      (_, i) => `uid=u${i},ou=People,dc=example,dc=org`,
    );
    store.insertWorkgroup({
      entryUUID: crypto.randomUUID(),
      dn: "cn=big:all,ou=groups,dc=example,dc=org",
      name: "big:all",
      valid: true,
      members: JSON.stringify(dns),
      csn: "20261201000000.000000Z#000000#000#000000",
      seq: 0,
    });
    store.commit();
    // The people search knows every other person, with a unique id.
    const people = new MemberDirectory();
    for (let i = 0; i < dns.length; i += 2) {
      people.set(dnKey(dns[i]), { uid: `u${i}`, uniqueId: `id${i}` });
    }
    const socket = `${dir}/control.sock`;
    const idle = () => false;
    const server = await ControlServer.listen(socket, {
      resync: new Resync(store, people, idle),
      listing: new Listing(store, people, idle),
    });
    try {
      const answer = await requestMembers(socket, "big:all");
      assert.equal(answer?.total, 200_000);
      assert.deepEqual(
        answer?.members,
        dns.map((dn, i) =>
          i % 2 === 0
            ? { dn, id: `id${i}`, uid: `u${i}` }
            : { dn, id: `u${i}`, uid: null }
        ),
      );
      const first = await requestMembers(socket, "big:all", { limit: 10 });
      assert.deepEqual(
        { total: first?.total, members: first?.members.map((m) => m.dn) },
        { total: 200_000, members: dns.slice(0, 10) },
      );
      assert.deepEqual(await requestWorkgroups(socket, "BIG"), [
        { name: "big:all", members: 200_000 },
      ]);
    } finally {
      await server.close();
      store.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
