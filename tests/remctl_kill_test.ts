/**
 * wgsync-remctl SIGKILLed while a command runs, again and again, on the real
 * stack (moto, KDC, k5start, remctld with a slow demo backend): each kill
 * leaves the message received and undeleted, and the killed role's other
 * long polls, still open in SQS, receive it again for nobody once it is
 * visible, so its receive count grows far past what a low maxReceiveCount
 * allows; the message is still delivered once the role is left to run, and
 * nothing is dead-lettered.
 */
import assert from "node:assert/strict";
import { GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { RoleProcess, withTempDir } from "./helpers/ldap_role.ts";
import {
  awsClients,
  callsOf,
  createQueue,
  drain,
  eventually,
  publishEvents,
  testEvent,
  writeRemctlConfig,
} from "./helpers/remctl_role.ts";
import { getStack } from "./helpers/stack.ts";

const KILLS = 4;

/** The role's own count of messages in hand, from its /metrics. */
async function roleInFlight(metrics: string): Promise<number> {
  try {
    const text = await (await fetch(`http://${metrics}/metrics`)).text();
    return Number(text.match(/^wgsync_remctl_in_flight\{[^}]*\} (\d+)$/m)?.[1]);
  } catch {
    return NaN;
  }
}

async function inFlight(sqs: SQSClient, url: string): Promise<number> {
  const { Attributes: a = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ["ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return Number(a.ApproximateNumberOfMessagesNotVisible);
}

Deno.test(`SIGKILL while a command runs, ${KILLS} times: the message is delivered after, not dead-lettered`, async () => {
  const stack = await getStack();
  const clients = awsClients(stack);
  const queue = await createQueue(stack, clients, { visibilitySeconds: 3 });
  const event = testEvent(`${queue.stem}:killed`, "member.added");
  await Deno.writeTextFile(stack.remctl.delayFile, "1500");
  try {
    await withTempDir(async (dir) => {
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const metrics = `127.0.0.1:${listener.addr.port}`;
      listener.close();
      const files = await writeRemctlConfig(stack, dir, [queue], {
        metricsListen: metrics,
      });
      await publishEvents(stack, clients.sns, [event]);
      for (let kill = 1; kill <= KILLS; kill++) {
        // No role runs: the message is visible again once the last holder's visibility ended.
        await eventually(
          async () => await inFlight(clients.sqs, queue.url) === 0,
          `the message visible again before start ${kill}`,
        );
        const role = RoleProcess.start(stack, files, { role: "remctl" });
        try {
          await role.waitForLog(/Ready: 1 targets/);
          await eventually(
            async () => await roleInFlight(metrics) === 1,
            `the message in the hand of start ${kill}`,
          );
          // Its command is running now (the backend takes 1.5 s).
          await new Promise((resolve) => setTimeout(resolve, 300));
          assert.doesNotMatch(role.stderr, /exit 0/);
        } finally {
          await role.kill();
        }
      }
      await Deno.remove(stack.remctl.delayFile);
      const role = RoleProcess.start(stack, files, { role: "remctl" });
      try {
        const ran = new RegExp(
          `\\(${event.id}\\): exit 0 \\(receive (\\d+)\\)`,
        );
        await role.waitForLog(ran, 60_000);
        const receives = Number(role.stderr.match(ran)![1]);
        assert.ok(receives > KILLS, `received ${receives} times`);
      } finally {
        assert.equal(await role.stop(), 0, role.stderr);
      }
    });
  } finally {
    await Deno.remove(stack.remctl.delayFile).catch(() => {});
  }
  const calls = await callsOf(stack, queue.stem);
  assert.ok(calls.length >= 1, "no call reached the backend");
  assert.deepEqual(new Set(calls.map((c) => c.argv[8])), new Set([event.id]));
  assert.deepEqual(await drain(clients.sqs, queue.dlqUrl), []);
  assert.deepEqual(await drain(clients.sqs, queue.url), []);
});
