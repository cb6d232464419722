/**
 * Two wgsync-event processes discover the same new stems at the same time:
 * a relay in front of moto holds back GetItem answers, so both read "no
 * item" before either writes. Exactly one conditional put wins per stem;
 * the other process re-reads the winner's item and never overwrites it.
 */

import assert from "node:assert/strict";
import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import { AwsRelay } from "./helpers/aws_relay.ts";
import {
  awsClients,
  EventProcess,
  makeEvent,
  sendEvents,
  withTempDir,
  writeEventConfig,
} from "./helpers/event_role.ts";
import { getStack } from "./helpers/stack.ts";

Deno.test("two processes racing on new stems create exactly one item per stem; the loser reads the winner's", async () => {
  const stack = await getStack();
  const aws = awsClients(stack);
  const relay = AwsRelay.start(stack.aws.endpoint, {
    delays: { "DynamoDB_20120810.GetItem": 400 },
  });
  const roles: EventProcess[] = [];
  try {
    await withTempDir(async (dir) => {
      for (const name of ["a", "b"]) {
        await Deno.mkdir(`${dir}/${name}`);
        const files = await writeEventConfig(stack, `${dir}/${name}`, {
          endpoint: relay.endpoint,
        });
        roles.push(EventProcess.start(files, stack));
      }
      await Promise.all(roles.map((role) => role.waitReady()));
      const run = crypto.randomUUID().slice(0, 8);
      const stems = Array.from({ length: 5 }, (_, i) => `race${i}-${run}`);
      await Promise.all(roles.map((role, r) =>
        sendEvents(
          role.files,
          stems.map((stem) => makeEvent(`${stem}:from-${"ab"[r]}`, 1)),
        )
      ));
      const created = roles.map((role) =>
        [
          ...role.stderr.matchAll(
            /Created the item of the new stem (\S+) \(from (\S+)\)/g,
          ),
        ].map((m) => [m[1], m[2]])
      );
      const lost = roles.map((role) =>
        [
          ...role.stderr.matchAll(
            /Another process created the item of the new stem (\S+) first \(from (\S+)\)/g,
          ),
        ].map((m) => [m[1], m[2]])
      );
      for (const stem of stems) {
        const winners = created.flatMap((list, r) =>
          list.filter(([s]) => s === stem).map(([, from]) => ({ r, from }))
        );
        assert.equal(winners.length, 1, `${stem}: ${JSON.stringify(created)}`);
        const [{ r, from }] = winners;
        assert.equal(from, `${stem}:from-${"ab"[r]}`);
        // The loser read the winner's item back.
        assert.deepEqual(
          lost[1 - r].filter(([s]) => s === stem),
          [[stem, from]],
          JSON.stringify(lost),
        );
        const item = await aws.dynamo.send(
          new GetItemCommand({
            TableName: stack.aws.stemsTable,
            Key: { stem: { S: stem } },
            ConsistentRead: true,
          }),
        );
        assert.equal(item.Item?.discoveredFrom?.S, from);
        assert.equal(item.Item?.enabled?.BOOL, true);
      }
      // Both processes tried to create every stem: the race really happened.
      assert.equal(relay.count("DynamoDB_20120810.PutItem"), 2 * stems.length);
      for (const role of roles) assert.equal(await role.stop(), 0, role.stderr);
    });
  } finally {
    for (const role of roles) await role.stop();
    await relay.close();
    aws.destroy();
  }
});
