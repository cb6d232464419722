/**
 * wgsync-event's start check against the stack's moto: a missing stems
 * table, a table keyed otherwise, a standard (non-FIFO) topic and a missing
 * claim-check bucket each stop the role before READY=1 with a message
 * naming the resource, and a non-zero exit.
 */

import assert from "node:assert/strict";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { CreateTopicCommand } from "@aws-sdk/client-sns";
import { stringify } from "smol-toml";
import {
  awsClients,
  type EventConfigOptions,
  EventProcess,
  withTempDir,
  writeEventConfig,
} from "./helpers/event_role.ts";
import { getStack } from "./helpers/stack.ts";
import { parse } from "smol-toml";

async function startFails(
  options: EventConfigOptions,
  edit?: (config: Record<string, Record<string, unknown>>) => void,
): Promise<{ code: number; stderr: string; notify: string[] }> {
  const stack = await getStack();
  let result: { code: number; stderr: string; notify: string[] } | undefined;
  await withTempDir(async (dir) => {
    const files = await writeEventConfig(stack, dir, options);
    if (edit !== undefined) {
      const config = parse(await Deno.readTextFile(files.config)) as Record<
        string,
        Record<string, unknown>
      >;
      edit(config);
      await Deno.writeTextFile(files.config, stringify(config));
    }
    const role = EventProcess.start(files, stack);
    const code = await role.wait();
    result = { code, stderr: role.stderr, notify: role.notify.messages };
    await assert.rejects(Deno.lstat(files.socket), Deno.errors.NotFound);
  });
  assert.ok(result);
  assert.ok(
    !result.notify.some((m) => m.split("\n").includes("READY=1")),
    `READY=1 was sent: ${JSON.stringify(result.notify)}`,
  );
  assert.notEqual(result.code, 0, result.stderr);
  return result;
}

Deno.test("a missing stems table fails the start check naming the table, without READY=1", async () => {
  const { stderr } = await startFails({ stemsTable: "no-such-table" });
  assert.match(
    stderr,
    /Cannot start as the stems table does not exist: table is "no-such-table"/,
  );
});

Deno.test("a stems table keyed by something else than the string stem fails the start check", async () => {
  const stack = await getStack();
  const aws = awsClients(stack);
  try {
    await aws.dynamo.send(
      new CreateTableCommand({
        TableName: "wrong-key",
        AttributeDefinitions: [{ AttributeName: "name", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "name", KeyType: "HASH" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
  } finally {
    aws.destroy();
  }
  const { stderr } = await startFails({ stemsTable: "wrong-key" });
  assert.match(
    stderr,
    /Cannot start as the stems table's key is not the string "stem": table is "wrong-key", expected stem \(HASH, S\), found name \(HASH, S\)/,
  );
});

Deno.test("a standard (non-FIFO) topic fails the start check naming the topic, without READY=1", async () => {
  const stack = await getStack();
  const aws = awsClients(stack);
  let topicArn: string;
  try {
    const topic = await aws.sns.send(
      new CreateTopicCommand({ Name: "wgsync-standard" }),
    );
    topicArn = topic.TopicArn!;
  } finally {
    aws.destroy();
  }
  const { stderr } = await startFails({ topicArn });
  assert.ok(
    stderr.includes(
      `Cannot start as the topic is not a FIFO topic: topic is "${topicArn}", expected FifoTopic "true", found null`,
    ),
    stderr,
  );
});

Deno.test("a topic that does not exist fails the start check naming it", async () => {
  const topicArn = "arn:aws:sns:us-east-1:123456789012:missing.fifo";
  const { stderr } = await startFails({ topicArn });
  assert.ok(
    stderr.includes(
      `Cannot start as the topic does not exist: topic is "${topicArn}"`,
    ),
    stderr,
  );
});

Deno.test("a missing claim-check bucket fails the start check naming it", async () => {
  const { stderr } = await startFails({}, (config) => {
    config.event.claim_check_bucket = "no-such-bucket";
  });
  assert.match(
    stderr,
    /Cannot start as the claim-check bucket does not exist: bucket is "no-such-bucket"/,
  );
});
