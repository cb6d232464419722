/**
 * wgsync-remctl end to end on the real stack: events published to the SNS
 * FIFO topic (as wgsync-event publishes them) reach the test's own FIFO
 * queue, the role (a subprocess with its exact permissions) runs the demo
 * command on the stack's remctld over kept-open Kerberos connections, and
 * the demo backend records each call's argv and standard input.
 */
import assert from "node:assert/strict";
import type { EventType, WorkgroupEvent } from "../lib/events/mod.ts";
import { POISON_REASON_ATTRIBUTE } from "../lib/wgsync_remctl/mod.ts";
import { RoleProcess, withTempDir } from "./helpers/ldap_role.ts";
import {
  awsClients,
  createQueue,
  drain,
  publishEvents,
  testEvent,
  waitForCalls,
  waitForMessages,
  writeRemctlConfig,
} from "./helpers/remctl_role.ts";
import { getStack } from "./helpers/stack.ts";

const TYPES: EventType[] = [
  "workgroup.created",
  "member.added",
  "member.removed",
  "workgroup.renamed",
  "workgroup.snapshot",
  "workgroup.deleted",
];

/** The argv the demo backend must see for `event` (the last argument, {members}, is on stdin). */
function expectedArgv(event: WorkgroupEvent): string[] {
  return [
    "demo",
    event.type,
    event.workgroup,
    event.stem,
    event.member?.uid ?? "",
    event.member?.id ?? "",
    event.member?.dn ?? "",
    event.previous ?? "",
    event.id,
    event.csn,
    String(event.seq),
  ];
}

Deno.test("every event type runs the command with its fields as arguments and its members on stdin", async () => {
  const stack = await getStack();
  const clients = awsClients(stack);
  await withTempDir(async (dir) => {
    const queue = await createQueue(stack, clients);
    const role = RoleProcess.start(
      stack,
      await writeRemctlConfig(stack, dir, [queue]),
      {
        role: "remctl",
      },
    );
    try {
      await role.waitForLog(/Ready: 1 targets/);
      const workgroup = `${queue.stem}:types`;
      const events = TYPES.map((type, i) =>
        testEvent(workgroup, type, { seq: i + 1 })
      );
      await publishEvents(stack, clients.sns, events);
      const calls = await waitForCalls(stack, queue.stem, TYPES.length);
      assert.deepEqual(calls.map((c) => c.argv), events.map(expectedArgv));
      assert.deepEqual(
        calls.map((c) => c.stdin),
        events.map((e) =>
          e.members === undefined ? "" : JSON.stringify(e.members)
        ),
      );
      for (const event of events) {
        await role.waitForLog(new RegExp(`\\(${event.id}\\): exit 0`));
      }
      assert.deepEqual(await drain(clients.sqs, queue.url), []);
      assert.deepEqual(await drain(clients.sqs, queue.dlqUrl), []);
    } finally {
      assert.equal(await role.stop(), 0, role.stderr);
    }
  });
});

Deno.test("hostile member names arrive byte-exact as single arguments; a NUL is dead-lettered with its reason", async () => {
  const stack = await getStack();
  const clients = awsClients(stack);
  const names = [
    "two words",
    `quote's "double"`,
    "semi;colon && rm -rf /",
    "$(touch /tmp/pwned) `id`",
    "line\nbreak\r\n",
    "Équipe 研究 🎓",
    "-rf",
    "--option=value",
    "",
    " leading and trailing ",
    "back\\slash\t*?[glob]",
  ];
  await withTempDir(async (dir) => {
    const queue = await createQueue(stack, clients);
    const role = RoleProcess.start(
      stack,
      await writeRemctlConfig(stack, dir, [queue]),
      {
        role: "remctl",
      },
    );
    try {
      await role.waitForLog(/Ready: 1 targets/);
      const workgroup = `${queue.stem}:hostile; $(x) 'y'`;
      const events = names.map((name, i) =>
        testEvent(workgroup, "member.added", {
          seq: i + 1,
          member: {
            dn: `uid=${name},ou=people,dc=example,dc=edu`,
            id: name,
            uid: name,
          },
        })
      );
      const nul = testEvent(workgroup, "member.added", {
        seq: 99,
        member: { dn: "uid=nul,dc=x", id: "nul", uid: "a\0b" },
      });
      const after = testEvent(workgroup, "member.removed", { seq: 100 });
      await publishEvents(stack, clients.sns, [...events, nul, after]);
      const calls = await waitForCalls(stack, queue.stem, events.length + 1);
      assert.deepEqual(
        calls.map((c) => c.argv),
        [...events, after].map(expectedArgv),
      );
      const [dead] = await waitForMessages(clients.sqs, queue.dlqUrl, 1);
      assert.equal(JSON.parse(dead.Body!).id, nul.id);
      assert.equal(
        dead.MessageAttributes?.[POISON_REASON_ATTRIBUTE]?.StringValue,
        `Cannot run the command for event ${nul.id} as argument 6 ("{member.uid}") contains a NUL character, which no command argument can carry`,
      );
    } finally {
      assert.equal(await role.stop(), 0, role.stderr);
    }
  });
});
