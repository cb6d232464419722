/**
 * The admin actions of the wgsync-web browser suite that end at the remctl
 * backend: dead letters shown, redriven (run by wgsync-remctl) and deleted,
 * and a resync whose snapshot reaches the backend.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { directoryMemberships } from "../helpers/ldap_role.ts";
import { eventBody, waitForCall } from "../helpers/web_site.ts";
import { type WebSiteSession } from "./session.ts";

/** Runs these steps of the suite on its one session. */
export async function remctlActionSteps(
  t: Deno.TestContext,
  session: WebSiteSession,
): Promise<void> {
  const { stack, base, artifacts, sqs, admin, open, diagnose } = session;
  await t.step(
    "dead letters: reason and receive count shown; a redriven one is run by wgsync-remctl; delete selected",
    async () => {
      const target = stack.aws.queues.find((q) => q.target === "research")!;
      const send = (
        group: string,
        body: string,
        reason?: string,
      ) =>
        sqs.send(
          new SendMessageCommand({
            QueueUrl: target.dlqUrl,
            MessageBody: body,
            MessageGroupId: group,
            MessageDeduplicationId: crypto.randomUUID(),
            MessageAttributes: {
              workgroup: { DataType: "String", StringValue: group },
              ...(reason === undefined ? {} : {
                "wgsync-poison-reason": {
                  DataType: "String",
                  StringValue: reason,
                },
              }),
            },
          }),
        );
      // As SQS leaves a message whose command failed maxReceiveCount times.
      const event = eventBody({
        type: "member.added",
        workgroup: "research-computing:oak-storage",
        uid: "redriven-member",
      });
      const redriven = await send(event.workgroup, JSON.stringify(event));
      // As wgsync-remctl dead-letters a poison message at once.
      const doomed = await send(
        "research-computing:gpu",
        "not an event",
        "Cannot read the event as its body is not JSON",
      );
      const page = await open(admin, "/dead-letters");
      const row = page.locator(`tr[data-message="${redriven.MessageId}"]`);
      assert.match(
        await row.innerText(),
        /research-computing:oak-storage\s+member\.added\s+none recorded: moved by SQS after failed runs.*\s+1\s/,
      );
      assert.match(
        await page.locator(`tr[data-message="${doomed.MessageId}"]`)
          .innerText(),
        /research-computing:gpu\s+Cannot read the event as its body is not JSON\s+1\s/,
      );
      await page.screenshot({
        path: `${artifacts}/dead-letters.png`,
        fullPage: true,
      });
      await row.locator("input[type=checkbox]").check();
      await page.getByRole("button", { name: "Redrive selected" }).click();
      await page.locator(".result").filter({
        hasText: "Redrove 1 dead letter",
      }).waitFor();
      // A redriven message lands behind newer events: a fresh snapshot follows.
      const snapshotLine = await page.locator(".result p").nth(1).innerText();
      const snapshotId =
        /^Snapshot of research-computing:oak-storage queued \(([0-9a-f]{64})\)\.$/
          .exec(snapshotLine)?.[1];
      assert.ok(snapshotId, snapshotLine);
      await waitForCall(
        stack,
        (argv) => argv.includes(snapshotId),
        diagnose(snapshotId),
      );
      const calls = await waitForCall(
        stack,
        (argv) => argv.includes(event.id),
        diagnose(event.id),
      );
      assert.deepEqual(calls.argv.slice(1, 5), [
        "member.added",
        "research-computing:oak-storage",
        "research-computing",
        "redriven-member",
      ]);
      await page.goto(`${base}/dead-letters`);
      await page.locator(
        `tr[data-message="${doomed.MessageId}"] input[type=checkbox]`,
      ).check();
      await page.getByRole("button", { name: "Delete selected" }).click();
      await page.locator(".result").filter({ hasText: "Deleted 1 of 1" })
        .waitFor();
      const left = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: target.dlqUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 0,
          WaitTimeSeconds: 0,
        }),
      );
      assert.equal(
        (left.Messages ?? []).filter((m) => m.MessageId === doomed.MessageId)
          .length,
        0,
      );
      // "Redrive all": StartMessageMoveTask where the service has it; moto
      // answers HTTP 500, so the site moves the messages one by one.
      const all = [
        eventBody({
          type: "member.added",
          workgroup: "research-computing:farmshare",
          uid: "redrive-all-1",
        }),
        eventBody({
          type: "member.added",
          workgroup: "research-computing:farmshare",
          uid: "redrive-all-2",
        }),
      ];
      for (const body of all) {
        await send(body.workgroup, JSON.stringify(body));
      }
      await page.goto(`${base}/dead-letters`);
      await page.getByRole("button", { name: "Redrive all" }).first().click();
      await page.locator(".result").filter({
        hasText: /Redrove [2-9]\d* dead letter/,
      })
        .waitFor();
      for (const body of all) {
        await waitForCall(
          stack,
          (argv) => argv.includes(body.id),
          diagnose(body.id),
        );
      }
      await page.close();
    },
  );

  await t.step(
    "resync: the button makes wgsync-ldap send a snapshot that reaches the remctl backend",
    async () => {
      const workgroup = "uit:helpdesk";
      const page = await open(
        admin,
        `/workgroup?${new URLSearchParams({ name: workgroup })}`,
      );
      await page.locator("#resync").click();
      const line = await page.locator(".result p").first().innerText();
      const id = /^Snapshot of uit:helpdesk queued \(([0-9a-f]{64})\)\.$/
        .exec(line)?.[1];
      assert.ok(id, line);
      await page.screenshot({
        path: `${artifacts}/resync.png`,
        fullPage: true,
      });
      const call = await waitForCall(
        stack,
        (argv) => argv.includes(id),
        diagnose(id),
      );
      assert.deepEqual(call.argv.slice(1, 3), [
        "workgroup.snapshot",
        workgroup,
      ]);
      const members = (await directoryMemberships(
        stack,
        stack.ldap.workgroupBase,
      )).get(workgroup);
      // remctld's stdin=last hands {members} to the backend on stdin.
      assert.deepEqual(
        new Set(
          (JSON.parse(call.stdin) as { dn: string }[]).map((m) =>
            m.dn.toLowerCase()
          ),
        ),
        members,
      );
      await page.close();
    },
  );
}
