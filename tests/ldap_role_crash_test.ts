/**
 * wgsync-ldap killed with SIGKILL at random points while 1,000 real changes
 * are made to the directory (ldapmodify, paced), restarted each time: the
 * events delivered to a real ChannelServer, de-duplicated by id, rebuild
 * exactly the directory's final memberships as ldapsearch reads them.
 *
 * Needs: --allow-run (deno, ldapadd, ldapmodify, ldapsearch, kill),
 * --allow-read, --allow-write=/tmp, --allow-net, --allow-env.
 */

import assert from "node:assert/strict";
import type { WorkgroupEvent } from "../lib/events/mod.ts";
import { reconstruct } from "./helpers/consumer.ts";
import { container, ldapUtil } from "./helpers/ldap_admin.ts";
import {
  directoryMemberships,
  Receiver,
  RoleProcess,
  withTempDir,
  writeRoleConfig,
} from "./helpers/ldap_role.ts";
import { getStack, type StackInfo } from "./helpers/stack.ts";

const CHANGES = 1000;
const ROUNDS = 20;
const GROUPS = 30;
/** Changes per ldapmodify call, and the pause between calls (pacing the burst over the rounds). */
const PER_CALL = 5;
const PAUSE_MS = 60;

interface Group {
  dn: string;
  members: Set<string>;
}

/** A random sequence of changes as LDIF chunks, valid against a model of the directory. */
function plan(
  stack: StackInfo,
  base: string,
  stem: string,
  groups: string[],
): string[] {
  const people = stack.ldap.peopleBase;
  const model = new Map<string, Group>();
  groups.forEach((dn, i) =>
    model.set(`${stem}:g${i}`, {
      dn,
      members: new Set([`uid=m${i},${people}`]),
    })
  );
  const deleted: string[] = [];
  let person = 0;
  let created = 0;
  const pick = <T>(items: T[]) =>
    items[Math.floor(Math.random() * items.length)];
  const changes: string[] = [];
  while (changes.length < CHANGES) {
    const r = Math.random();
    const names = [...model.keys()];
    if (r < 0.6) {
      const name = pick(names);
      const member = `uid=p${person++},${people}`;
      model.get(name)!.members.add(member);
      changes.push(
        `dn: ${
          model.get(name)!.dn
        }\nchangetype: modify\nadd: member\nmember: ${member}\n`,
      );
    } else if (r < 0.85) {
      const candidates = names.filter((n) => model.get(n)!.members.size > 1);
      if (candidates.length === 0) continue;
      const group = model.get(pick(candidates))!;
      const member = pick([...group.members]);
      group.members.delete(member);
      changes.push(
        `dn: ${group.dn}\nchangetype: modify\ndelete: member\nmember: ${member}\n`,
      );
    } else if (r < 0.92) {
      if (names.length <= 10) continue;
      const name = pick(names);
      changes.push(`dn: ${model.get(name)!.dn}\nchangetype: delete\n`);
      model.delete(name);
      deleted.push(name);
    } else {
      // Re-create a deleted name (new entryUUID) or create a new one.
      const name = deleted.length > 0 && Math.random() < 0.5
        ? deleted.splice(Math.floor(Math.random() * deleted.length), 1)[0]
        : `${stem}:n${created++}`;
      const dn = `cn=${name},${base}`;
      const members = new Set([`uid=p${person++},${people}`]);
      model.set(name, { dn, members });
      changes.push(
        `dn: ${dn}\nchangetype: add\nobjectClass: groupOfNames\ncn: ${name}\n${
          [...members].map((m) => `member: ${m}\n`).join("")
        }`,
      );
    }
  }
  const chunks: string[] = [];
  for (let i = 0; i < changes.length; i += PER_CALL) {
    chunks.push(changes.slice(i, i + PER_CALL).join("\n"));
  }
  return chunks;
}

function lowerCased(
  groups: Map<string, Set<string>>,
): Map<string, Set<string>> {
  return new Map(
    [...groups].map((
      [name, members],
    ) => [name, new Set([...members].map((m) => m.toLowerCase()))]),
  );
}

function sortedEntries(
  groups: Map<string, Set<string>>,
): [string, string[]][] {
  return [...groups].map(([name, members]): [string, string[]] => [
    name,
    [...members].sort(),
  ]).sort(([a], [b]) => a < b ? -1 : 1);
}

Deno.test(`wgsync-ldap killed with SIGKILL ${ROUNDS} times during ${CHANGES} real changes delivers events that rebuild the directory's memberships exactly`, async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const { base, groups } = await container(stack, GROUPS);
    const stem = base.slice("ou=".length, base.indexOf(","));
    // Several deletions can fall into one stopped interval: the guard has
    // its own test, so let them through here.
    const files = await writeRoleConfig(stack, dir, { base, threshold: 1 });
    const receiver = await Receiver.listen(files.socket, files.keyFile);
    const chunks = plan(stack, base, stem, groups);
    let written = 0;
    const writer = (async () => {
      for (const chunk of chunks) {
        await ldapUtil(stack, "ldapmodify", chunk);
        written++;
        await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
      }
    })();
    let writing = true;
    const done = () => writing = false;
    writer.then(done, done);
    let log = "";
    let role: RoleProcess | undefined;
    let rounds = 0;
    const started = performance.now();
    try {
      while (rounds < ROUNDS || writing) {
        role = RoleProcess.start(stack, files);
        await new Promise((resolve) =>
          setTimeout(resolve, 200 + Math.random() * 1600)
        );
        await role.kill();
        log += role.stderr;
        rounds++;
      }
      await writer;
      role = RoleProcess.start(stack, files);
      await role.waitForLog(/Ready: running/, 30_000);
      await receiver.settle(1500);
      assert.equal(await role.stop(), 0, role.stderr);
      log += role.stderr;

      const expected = await directoryMemberships(stack, base);
      const events: WorkgroupEvent[] = receiver.events.filter((e) =>
        e.stem === stem
      );
      const rebuilt = lowerCased(reconstruct(events));
      const unique = new Set(events.map((e) => e.id)).size;
      console.log(
        `${rounds} SIGKILL rounds in ${
          Math.round((performance.now() - started) / 1000)
        } s; ${
          written * PER_CALL
        } changes; ${events.length} events delivered, ${unique} distinct ids, ${
          events.length - unique
        } re-deliveries; ${expected.size} workgroups at the end`,
      );
      assert.ok(rounds >= ROUNDS);
      assert.ok(
        !/Rebuilding the store/.test(log),
        "a SIGKILL left an unusable store",
      );
      assert.deepEqual(sortedEntries(rebuilt), sortedEntries(expected));
    } finally {
      await role?.kill();
      await writer.catch(() => {});
      await receiver.close();
    }
  });
});
