/**
 * wgsync-ldap and a real e-syncRefreshRequired (isolated stacks): slapd
 * (syncprov) ends the role's persistent search with refreshRequired ("search
 * base has changed") once the search base — a container of workgroups, or
 * the people subtree — is renamed. The role logs it, drops its cookie and
 * searches again without one; that search fails with noSuchObject while the
 * base is away, so it must retry with backoff (not crash). Once the base is
 * back it must send a `workgroup.snapshot` of every workgroup with the
 * directory's exact member list (changes made while the base was away
 * included), delete nothing but what was deleted meanwhile, and go on
 * following changes. A person deleted while the people base was away must
 * no longer resolve.
 *
 * Needs: --allow-run (deno, ldapadd, ldapmodify, ldapmodrdn, ldapdelete,
 * ldapsearch, kill), --allow-read (incl. the role's store, read beside it),
 * --allow-write=/tmp, --allow-net (unix sockets), --allow-env.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { WorkgroupEvent } from "../lib/events/mod.ts";
import { reconstruct } from "./helpers/consumer.ts";
import { DatagramListener } from "./helpers/datagram_listener.ts";
import { container, groupLdif, ldapUtil } from "./helpers/ldap_admin.ts";
import {
  brief,
  directoryMemberships,
  Receiver,
  RoleProcess,
  until,
  withTempDir,
  writeRoleConfig,
} from "./helpers/ldap_role.ts";
import { startStack } from "./helpers/stack.ts";

const GROUPS = 5;

function memberChange(
  dn: string,
  op: "add" | "delete",
  member: string,
): string {
  return `dn: ${dn}\nchangetype: modify\n${op}: member\nmember: ${member}\n`;
}

function sortedMembers(event: WorkgroupEvent): string[] {
  return (event.members ?? []).map((m) => m.dn.toLowerCase()).sort();
}

/** What happens around the refreshRequired in {@linkcode refreshRequiredScenario}. */
interface Scenario {
  /** Restart the role once before the rename, so its search resumes from a stored cookie. */
  restartFirst: boolean;
  /** While the base is away, delete the last workgroup and add a new one. */
  deleteAndAdd: boolean;
}

async function refreshRequiredScenario(scenario: Scenario): Promise<void> {
  const handle = await startStack();
  const stack = handle.info;
  try {
    await withTempDir(async (dir) => {
      const { base, groups } = await container(stack, GROUPS);
      const ou = base.slice("ou=".length, base.indexOf(","));
      const stem = ou;
      const moved = `ou=${ou}-moved,${stack.ldap.suffix}`;
      const people = stack.ldap.peopleBase;
      // Varied member lists: g0 gets three more (one a real person), g2 one.
      for (const member of ["uid=u000001", "uid=x1", "uid=x2"]) {
        await ldapUtil(
          stack,
          "ldapmodify",
          memberChange(groups[0], "add", `${member},${people}`),
        );
      }
      await ldapUtil(
        stack,
        "ldapmodify",
        memberChange(groups[2], "add", `uid=x3,${people}`),
      );

      // One deletion of five or six workgroups is above the default
      // mass-deletion threshold (10 %): allow it here.
      const files = await writeRoleConfig(stack, dir, {
        base,
        ...(scenario.deleteAndAdd ? { threshold: 0.5 } : {}),
      });
      const receiver = await Receiver.listen(files.socket, files.keyFile);
      const notify = new DatagramListener(`${dir}/notify`);
      const start = () => {
        const process = RoleProcess.start(stack, files, {
          notifySocket: `${dir}/notify`,
        });
        exited = undefined;
        void process.wait().then((code) => exited = code);
        return process;
      };
      let exited: number | undefined;
      let role = start();
      try {
        await role.waitForLog(
          new RegExp(`Ready: running; ${GROUPS} workgroups`),
        );
        await receiver.settle();
        assert.deepEqual(
          receiver.events.map(brief).sort(),
          groups.map((_, i) => `workgroup.created ${stem}:g${i}`).sort(),
        );
        if (scenario.restartFirst) {
          assert.equal(await role.stop(), 0, role.stderr);
          role = start();
          await role.waitForLog(/resuming from the stored cookie/);
          await role.waitForLog(/Ready: running/);
        }
        const before = receiver.events.length;

        // Rename the search base away; a write after it makes syncprov check
        // its persistent searches' bases (as in ldap_sync_test.ts). Changes
        // made while the base is away must show after the reload.
        await ldapUtil(stack, "ldapmodrdn", `${base}\nou=${ou}-moved\n`, [
          "-r",
        ]);
        const movedDn = (dn: string) => dn.replace(base, moved);
        await ldapUtil(
          stack,
          "ldapmodify",
          memberChange(movedDn(groups[1]), "add", `uid=u000002,${people}`),
        );
        await ldapUtil(
          stack,
          "ldapmodify",
          memberChange(movedDn(groups[0]), "delete", `uid=m0,${people}`),
        );
        const deleted: string[] = [];
        if (scenario.deleteAndAdd) {
          await ldapUtil(stack, "ldapdelete", `${movedDn(groups.at(-1)!)}\n`);
          deleted.push(`${stem}:g${GROUPS - 1}`);
          await ldapUtil(
            stack,
            "ldapadd",
            groupLdif(`cn=${stem}:new,${moved}`, `${stem}:new`, [
              `uid=u000003,${people}`,
              `uid=x5,${people}`,
            ]),
          );
        }
        await role.waitForLog(
          /The provider requires a full reload of the workgroups/,
        );
        // The new search (no cookie) fails with noSuchObject: retried with
        // backoff, reported in STATUS=, and the role keeps running.
        await role.waitForLog(
          /LDAP sync interrupted \(.*noSuchObject.*\); reconnecting in \d+ ms/,
        );
        await until(
          () =>
            notify.messages.some((m) =>
              /^STATUS=running: full reload required by the provider \(LDAP unavailable \(.*noSuchObject.*\), retry \d+ s\)/m
                .test(m)
            ),
          () =>
            `a STATUS= naming the retry; got ${
              JSON.stringify(notify.messages.slice(-5))
            }`,
        );
        await new Promise((resolve) => setTimeout(resolve, 1500));
        assert.equal(exited, undefined, `the role exited:\n${role.stderr}`);
        assert.equal(
          receiver.events.length,
          before,
          `events while the base was away: ${
            JSON.stringify(receiver.events.slice(before).map(brief))
          }`,
        );

        // Put the base back: the next retry's full refresh succeeds.
        await ldapUtil(stack, "ldapmodrdn", `${moved}\nou=${ou}\n`, ["-r"]);
        const expected = await directoryMemberships(stack, base);
        await role.waitForLog(
          new RegExp(
            `Workgroup refresh complete \\(\\w+ phase\\): ${expected.size} workgroups, ${deleted.length} deleted, ${expected.size} snapshots`,
          ),
          60_000,
        );
        await receiver.settle();

        assert.equal(
          expected.size,
          GROUPS - deleted.length + (scenario.deleteAndAdd ? 1 : 0),
        );
        assert.deepEqual(
          [...expected.get(`${stem}:g0`)!].sort(),
          [`uid=u000001`, `uid=x1`, `uid=x2`].map((u) =>
            `${u},${people}`.toLowerCase()
          ).sort(),
        );
        const after = receiver.events.slice(before);
        assert.deepEqual(
          after.map(brief).sort(),
          [
            ...[...expected.keys()].map((name) => `workgroup.snapshot ${name}`),
            ...deleted.map((name) => `workgroup.deleted ${name}`),
          ].sort(),
          "exactly one snapshot per workgroup after the reload (and a deletion for each workgroup deleted meanwhile)",
        );
        for (const snapshot of after) {
          if (snapshot.type !== "workgroup.snapshot") continue;
          assert.deepEqual(
            sortedMembers(snapshot),
            [...expected.get(snapshot.workgroup)!].sort(),
            `members of the snapshot of ${snapshot.workgroup}`,
          );
          const earlier = receiver.events.slice(0, before).find((e) =>
            e.workgroup === snapshot.workgroup
          );
          if (earlier !== undefined) {
            assert.ok(
              snapshot.seq > earlier.seq,
              `seq of ${snapshot.workgroup}`,
            );
          }
        }
        const person = after.find((e) => e.workgroup === `${stem}:g1`)!
          .members!.find((m) => m.dn === `uid=u000002,${people}`);
        assert.deepEqual(person, {
          dn: `uid=u000002,${people}`,
          id: "100002",
          uid: "u000002",
        });

        // The role follows changes again (a persistent search with a cookie).
        await ldapUtil(
          stack,
          "ldapmodify",
          memberChange(groups[3], "add", `uid=x4,${people}`),
        );
        await receiver.waitFor(
          (e) =>
            e.type === "member.added" && e.workgroup === `${stem}:g3` &&
            e.member?.dn === `uid=x4,${people}`,
          "member.added after the reload",
        );
        await receiver.settle();
        assert.equal(await role.stop(), 0, role.stderr);

        assert.deepEqual(
          receiver.events.filter((e) => e.type === "workgroup.deleted")
            .map((e) => e.workgroup),
          deleted,
          `deletions: ${JSON.stringify(receiver.events.map(brief))}`,
        );
        const rebuilt = reconstruct(receiver.events);
        const final = await directoryMemberships(stack, base);
        assert.deepEqual(
          new Map(
            [...rebuilt].map((
              [name, members],
            ) => [name, new Set([...members].map((m) => m.toLowerCase()))]),
          ),
          final,
        );
      } finally {
        await role.kill();
        await receiver.close();
        await notify.close();
      }
    });
  } finally {
    await handle.down();
  }
}

Deno.test("wgsync-ldap survives a real refreshRequired (search base renamed and back): retries, then sends a snapshot of every workgroup with its exact members and deletes nothing", async () => {
  await refreshRequiredScenario({ restartFirst: false, deleteAndAdd: false });
});

Deno.test("wgsync-ldap resumed from a cookie reloads after a real refreshRequired: a workgroup deleted while the base was away is deleted, one added gets a snapshot", async () => {
  await refreshRequiredScenario({ restartFirst: true, deleteAndAdd: true });
});

/** The number of people in the role's store, read beside the running role (WAL). */
function storedPeople(path: string): number | undefined {
  try {
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      return Number(
        db.prepare("SELECT count(*) AS n FROM people").get()?.n ?? 0,
      );
    } finally {
      db.close();
    }
  } catch {
    return undefined; // Busy or not created yet: ask again.
  }
}

Deno.test("wgsync-ldap reloads the people after a real refreshRequired (people base renamed and back): a person deleted meanwhile no longer resolves", async () => {
  const handle = await startStack();
  const stack = handle.info;
  try {
    await withTempDir(async (dir) => {
      const { base, groups } = await container(stack, 1);
      const stem = base.slice("ou=".length, base.indexOf(","));
      const people = stack.ldap.peopleBase;
      const ou = people.slice("ou=".length, people.indexOf(","));
      const moved = people.replace(`ou=${ou},`, `ou=${ou}-moved,`);
      const files = await writeRoleConfig(stack, dir, { base });
      const store = `${files.dataDir}/store.sqlite`;
      const receiver = await Receiver.listen(files.socket, files.keyFile);
      const role = RoleProcess.start(stack, files);
      try {
        await role.waitForLog(/Ready: running; 1 workgroups/);
        const count = storedPeople(store)!;
        assert.ok(count > 10, `people in the store: ${count}`);

        await ldapUtil(stack, "ldapmodrdn", `${people}\nou=${ou}-moved\n`, [
          "-r",
        ]);
        // A modify makes syncprov notice the moved base; the deletion waits
        // for that (slapd was seen to hang on a deletion that came first).
        await ldapUtil(
          stack,
          "ldapmodify",
          `dn: uid=u000006,${moved}\nchangetype: modify\nreplace: description\ndescription: moved\n`,
        );
        await role.waitForLog(
          /The provider requires a full reload of the people/,
        );
        await ldapUtil(stack, "ldapdelete", `uid=u000005,${moved}\n`);
        await role.waitForLog(
          /LDAP sync interrupted \(.*noSuchObject.*\); reconnecting in \d+ ms/,
        );
        await ldapUtil(stack, "ldapmodrdn", `${moved}\nou=${ou}\n`, ["-r"]);
        await until(
          () => storedPeople(store) === count - 1,
          () =>
            `${count - 1} people in the store (got ${
              storedPeople(store)
            }); log:\n${role.stderr}`,
          60_000,
        );

        for (const uid of ["u000005", "u000006"]) {
          await ldapUtil(
            stack,
            "ldapmodify",
            memberChange(groups[0], "add", `uid=${uid},${people}`),
          );
        }
        const added = async (uid: string) =>
          (await receiver.waitFor(
            (e) =>
              e.type === "member.added" &&
              e.member?.dn === `uid=${uid},${people}`,
            `member.added of ${uid}`,
          )).member;
        assert.deepEqual(await added("u000005"), {
          dn: `uid=u000005,${people}`,
          id: "u000005",
          uid: null,
        });
        assert.deepEqual(await added("u000006"), {
          dn: `uid=u000006,${people}`,
          id: "100006",
          uid: "u000006",
        });
        assert.ok(
          !receiver.events.some((e) =>
            e.type === "workgroup.deleted" && e.workgroup === `${stem}:g0`
          ),
        );
        assert.equal(await role.stop(), 0, role.stderr);
      } finally {
        await role.kill();
        await receiver.close();
      }
    });
  } finally {
    await handle.down();
  }
});
