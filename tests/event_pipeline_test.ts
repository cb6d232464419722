/**
 * The pipeline end to end on an isolated stack of real parts: slapd →
 * wgsync-ldap (StartTLS + GSSAPI) → channel → wgsync-event → moto's SNS FIFO
 * topic → an SQS FIFO queue subscribed with a filter policy on the stem.
 * Then AWS unreachable for 20 s in the middle of a stream of directory
 * changes (this test's own moto frozen with SIGSTOP, thawed with SIGCONT):
 * afterwards every change arrived exactly once by id, in order per
 * workgroup, and wgsync-ldap's outbox drained to 0.
 */

import assert from "node:assert/strict";
import type { WorkgroupEvent } from "../lib/events/mod.ts";
import { DatagramListener } from "./helpers/datagram_listener.ts";
import {
  awsClients,
  drainQueue,
  EventProcess,
  type QueuedMessage,
  subscribedQueue,
  until,
  writeEventConfig,
} from "./helpers/event_role.ts";
import { container, ldapUtil } from "./helpers/ldap_admin.ts";
import {
  RoleProcess,
  withTempDir,
  writeRoleConfig,
} from "./helpers/ldap_role.ts";
import { signal, type StackHandle, startStack } from "./helpers/stack.ts";

let isolated: Promise<StackHandle> | undefined;
/** This file's own stack: its moto is frozen by the outage test. */
function ownStack(): Promise<StackHandle> {
  isolated ??= startStack();
  return isolated;
}

interface Pipeline {
  stack: StackHandle;
  aws: ReturnType<typeof awsClients>;
  event: EventProcess;
  ldap: RoleProcess;
  ldapNotify: DatagramListener;
  base: string;
  groups: string[];
  stem: string;
  queue: string;
}

/** wgsync-event, then wgsync-ldap on a fresh container of `groups` workgroups, and a queue for its stem. */
async function withPipeline(
  groups: number,
  fn: (pipeline: Pipeline) => Promise<void>,
): Promise<void> {
  const stack = await ownStack();
  const aws = awsClients(stack.info);
  await withTempDir(async (dir) => {
    const { base, groups: dns } = await container(stack.info, groups);
    const stem = /^ou=([^,]+)/.exec(base)![1];
    const queue = await subscribedQueue(aws, stack.info.aws.topicArn, stem, {
      stem: [stem],
    });
    await Deno.mkdir(`${dir}/ldap`);
    await Deno.mkdir(`${dir}/event`);
    const ldapFiles = await writeRoleConfig(stack.info, `${dir}/ldap`, {
      base,
    });
    const eventFiles = await writeEventConfig(stack.info, `${dir}/event`, {
      socket: ldapFiles.socket,
      keyFile: ldapFiles.keyFile,
    });
    const event = EventProcess.start(eventFiles, stack.info);
    let ldap: RoleProcess | undefined;
    const ldapNotify = new DatagramListener(`${dir}/ldap/notify`);
    try {
      await event.waitReady();
      ldap = RoleProcess.start(stack.info, ldapFiles, {
        notifySocket: `${dir}/ldap/notify`,
      });
      await fn({
        stack,
        aws,
        event,
        ldap,
        ldapNotify,
        base,
        groups: dns,
        stem,
        queue,
      });
      assert.equal(await ldap.stop(), 0, ldap.stderr);
      assert.equal(await event.stop(), 0, event.stderr);
    } finally {
      signal(stack.info.aws.pid, "SIGCONT");
      await ldap?.stop();
      await event.stop();
      await ldapNotify.close();
      aws.destroy();
    }
  });
}

function eventOf(message: QueuedMessage): WorkgroupEvent {
  return JSON.parse(message.body);
}

/** Adds one member to each of `groups` in one ldapmodify run; returns the member DNs by workgroup DN. */
async function addMembers(
  pipeline: Pipeline,
  round: number,
): Promise<[string, string][]> {
  const people = pipeline.stack.info.ldap.peopleBase;
  const changes = pipeline.groups.map((dn, i) =>
    [dn, `uid=r${round}g${i},${people}`] as [string, string]
  );
  await ldapUtil(
    pipeline.stack.info,
    "ldapmodify",
    changes.map(([dn, member]) =>
      `dn: ${dn}\nchangetype: modify\nadd: member\nmember: ${member}\n\n`
    ).join(""),
  );
  return changes;
}

function outboxOf(notify: DatagramListener): number | undefined {
  const last = notify.messages.findLast((m) => /outbox \d+/.test(m));
  const match = last === undefined ? null : /outbox (\d+)/.exec(last);
  return match === null ? undefined : Number(match[1]);
}

Deno.test("a real directory change arrives in the SQS FIFO queue of its stem with group id, dedup id, attributes and body", async () => {
  await withPipeline(2, async (pipeline) => {
    const initial = await drainQueue(pipeline.aws.sqs, pipeline.queue, {
      expect: 2,
    });
    assert.deepEqual(
      initial.map((m) => eventOf(m).type).sort(),
      ["workgroup.created", "workgroup.created"],
    );
    const [[dn, member]] = await addMembers(pipeline, 1);
    const [message] = await drainQueue(pipeline.aws.sqs, pipeline.queue, {
      expect: 2,
    }).then((all) => all.filter((m) => JSON.stringify(m).includes(member)));
    assert.ok(message, `no message carries ${member}`);
    const event = eventOf(message);
    const workgroup = `${pipeline.stem}:${/^cn=[^:]+:([^,]+)/.exec(dn)![1]}`;
    assert.equal(event.type, "member.added");
    assert.equal(event.workgroup, workgroup);
    assert.equal(event.stem, pipeline.stem);
    assert.equal(event.member?.dn.toLowerCase(), member.toLowerCase());
    assert.match(event.id, /^[0-9a-f]{64}$/);
    assert.deepEqual(
      { groupId: message.groupId, dedupId: message.dedupId },
      { groupId: pipeline.stem, dedupId: event.id },
    );
    assert.deepEqual(message.attributes, {
      type: { type: "String", value: "member.added" },
      stem: { type: "String", value: pipeline.stem },
      workgroup: { type: "String", value: workgroup },
    });
  });
});

Deno.test("AWS unreachable for 20 s mid-stream: afterwards every change arrived exactly once, in order per workgroup, and the outbox drained to 0", async () => {
  await withPipeline(8, async (pipeline) => {
    const expected = new Set<string>();
    const record = (changes: [string, string][]) => {
      for (const [dn, member] of changes) {
        expected.add(`${dn.toLowerCase()}|${member.toLowerCase()}`);
      }
    };
    // The first refresh is through (its workgroup.created events carry
    // the members as they were) before the changes begin.
    await until(
      () => pipeline.ldapNotify.messages.some((m) => m.startsWith("READY=1")),
      () => `wgsync-ldap's READY=1:\n${pipeline.ldap.stderr}`,
    );
    const created = pipeline.groups.length;
    let published = 0;
    while (published < created) {
      published = await pipeline.event.counter("wgsync_event_published_total");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const rounds = 12;
    for (let round = 1; round <= rounds; round++) {
      if (round === 4) {
        signal(pipeline.stack.info.aws.pid, "SIGSTOP");
      }
      record(await addMembers(pipeline, round));
      if (round >= 4 && round < 9) {
        // Five rounds spread over the 20 s outage.
        await new Promise((resolve) => setTimeout(resolve, 4_000));
      }
      if (round === 8) {
        // The events wait in wgsync-ldap's outbox, unacknowledged.
        assert.ok((outboxOf(pipeline.ldapNotify) ?? 0) > 0);
        signal(pipeline.stack.info.aws.pid, "SIGCONT");
      }
    }
    await until(
      () =>
        outboxOf(pipeline.ldapNotify) === 0 &&
        pipeline.ldapNotify.messages.length > 0,
      () =>
        `outbox 0 in wgsync-ldap's STATUS=; last: ${
          pipeline.ldapNotify.messages.at(-1)
        }`,
      120_000,
    );
    const messages = await drainQueue(pipeline.aws.sqs, pipeline.queue, {
      quietMs: 3000,
      timeoutMs: 180_000,
    });
    const events = messages.map(eventOf);
    const ids = events.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, "an id arrived twice");
    const added = events.filter((e) => e.type === "member.added");
    const workgroupDn = (workgroup: string) =>
      `cn=${workgroup},${pipeline.base}`.toLowerCase();
    assert.deepEqual(
      new Set(
        added.map((e) =>
          `${workgroupDn(e.workgroup)}|${e.member!.dn.toLowerCase()}`
        ),
      ),
      expected,
    );
    assert.equal(added.length, expected.size);
    assert.equal(
      events.filter((e) => e.type === "workgroup.created").length,
      pipeline.groups.length,
    );
    const last = new Map<string, number>();
    for (const event of events) {
      assert.ok(
        event.seq > (last.get(event.workgroup) ?? -Infinity),
        `${event.workgroup}: seq ${event.seq} after ${
          last.get(event.workgroup)
        }`,
      );
      last.set(event.workgroup, event.seq);
    }
  });
});

Deno.test("renames with pending changes of the old name, a name deleted and re-created, a rename into a freed name: every event of the stem in one FIFO group, the events addressing each name in directory order", async () => {
  await withPipeline(4, async (pipeline) => {
    await drainQueue(pipeline.aws.sqs, pipeline.queue, { expect: 4 });
    const { base, stem } = pipeline;
    const people = pipeline.stack.info.ldap.peopleBase;
    const dn = (name: string) => `cn=${stem}:${name},${base}`;
    const add = (name: string, uid: string) =>
      `dn: ${
        dn(name)
      }\nchangetype: modify\nadd: member\nmember: uid=${uid},${people}\n\n`;
    const rename = (from: string, to: string) =>
      `dn: ${
        dn(from)
      }\nchangetype: modrdn\nnewrdn: cn=${stem}:${to}\ndeleteoldrdn: 1\n\n`;
    const remove = (name: string) => `dn: ${dn(name)}\nchangetype: delete\n\n`;
    // AWS unreachable: every event below waits in wgsync-event (or behind
    // it), the old names' changes still unpublished when the renames come.
    signal(pipeline.stack.info.aws.pid, "SIGSTOP");
    await ldapUtil(
      pipeline.stack.info,
      "ldapmodify",
      add("g0", "x0") + rename("g0", "g9") + add("g9", "x9") +
        remove("g1") +
        `dn: ${
          dn("g1")
        }\nchangetype: add\nobjectClass: groupOfNames\ncn: ${stem}:g1\nmember: uid=z1,${people}\n\n` +
        add("g1", "w1") +
        add("g2", "x2") + add("g3", "x3") + remove("g3") + rename("g2", "g3") +
        add("g3", "y3"),
    );
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    signal(pipeline.stack.info.aws.pid, "SIGCONT");
    const messages = await drainQueue(pipeline.aws.sqs, pipeline.queue, {
      expect: 11,
      quietMs: 3000,
      timeoutMs: 120_000,
    });
    assert.deepEqual(
      [...new Set(messages.map((m) => m.groupId))],
      [stem],
      "one FIFO group: the stem",
    );
    const short = (name?: string) => name?.slice(stem.length + 1);
    const received = messages.map(eventOf).map((e) => [
      e.type,
      short(e.workgroup),
      short(e.previous),
      e.member?.dn.split(",")[0].slice(4) ?? null,
    ]);
    // In directory order. Unrelated workgroups of the stem are published
    // concurrently, so only the order of the events addressing one name
    // (as their workgroup or, for a rename, as the previous name) is fixed.
    const expected = [
      ["member.added", "g0", undefined, "x0"],
      ["workgroup.renamed", "g9", "g0", null],
      ["member.added", "g9", undefined, "x9"],
      ["workgroup.deleted", "g1", undefined, null],
      ["workgroup.created", "g1", undefined, null],
      ["member.added", "g1", undefined, "w1"],
      ["member.added", "g2", undefined, "x2"],
      ["member.added", "g3", undefined, "x3"],
      ["workgroup.deleted", "g3", undefined, null],
      ["workgroup.renamed", "g3", "g2", null],
      ["member.added", "g3", undefined, "y3"],
    ];
    const sorted = (rows: unknown[][]) =>
      rows.map((row) => JSON.stringify(row)).sort();
    assert.deepEqual(sorted(received), sorted(expected));
    for (const name of ["g0", "g1", "g2", "g3", "g9"]) {
      const addressing = (rows: unknown[][]) =>
        rows.filter((row) => row[1] === name || row[2] === name);
      assert.deepEqual(addressing(received), addressing(expected), name);
    }
  });
});
