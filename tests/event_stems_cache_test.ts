/**
 * The stems cache (lib/wgsync_event/stems.ts) on moto's DynamoDB, with a
 * counting relay in front: concurrent lookups of one stem share one read,
 * a stale entry is served while one refresh runs and operators' edits show
 * after it, an unusable item is a negative answer kept only briefly, and a
 * table that cannot be reached keeps serving what was cached.
 */

import assert from "node:assert/strict";
import { PutItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { createDynamoDbClient } from "../lib/aws/mod.ts";
import {
  type CacheResult,
  StemDirectory,
  type StemDirectoryOptions,
} from "../lib/wgsync_event/mod.ts";
import { AwsRelay } from "./helpers/aws_relay.ts";
import { awsClients } from "./helpers/event_role.ts";
import { getStack } from "./helpers/stack.ts";

const GET = "DynamoDB_20120810.GetItem";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withCache(
  options: Partial<StemDirectoryOptions>,
  fn: (context: {
    stems: StemDirectory;
    relay: AwsRelay;
    results: CacheResult[];
    aws: ReturnType<typeof awsClients>;
    table: string;
  }) => Promise<void>,
): Promise<void> {
  const stack = await getStack();
  const relay = AwsRelay.start(stack.aws.endpoint);
  const dynamo = createDynamoDbClient({
    region: stack.aws.region,
    endpoint: relay.endpoint,
    credentials: {
      accessKeyId: stack.aws.accessKeyId,
      secretAccessKey: stack.aws.secretAccessKey,
    },
    maxAttempts: 1,
    requestTimeoutMs: 2_000,
  });
  const aws = awsClients(stack);
  const results: CacheResult[] = [];
  try {
    const stems = new StemDirectory({
      dynamo,
      table: stack.aws.stemsTable,
      ttlMs: 60_000,
      onLookup: (result) => results.push(result),
      ...options,
    });
    await fn({ stems, relay, results, aws, table: stack.aws.stemsTable });
  } finally {
    dynamo.destroy();
    aws.destroy();
    await relay.close();
  }
}

function unique(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

Deno.test("stems cache: 100 concurrent lookups of one stem wait for one read", async () => {
  await withCache({}, async ({ stems, relay, results, aws, table }) => {
    const stem = unique("dogpile");
    await aws.dynamo.send(
      new PutItemCommand({
        TableName: table,
        Item: { stem: { S: stem }, enabled: { BOOL: true } },
      }),
    );
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) => stems.lookup(stem, `${stem}:${i}`)),
    );
    assert.equal(relay.count(GET), 1);
    assert.deepEqual(
      new Set(answers.map((a) => JSON.stringify(a))),
      new Set([
        JSON.stringify({ kind: "stem", enabled: true }),
      ]),
    );
    assert.deepEqual(
      {
        miss: results.filter((r) => r === "miss").length,
        total: results.length,
      },
      { miss: 1, total: 100 },
    );
    await stems.lookup(stem, `${stem}:x`);
    assert.equal(relay.count(GET), 1);
    assert.equal(results.at(-1), "hit");
  });
});

Deno.test("stems cache: after the TTL the stale entry is served while one refresh runs, then the operator's edit shows", async () => {
  await withCache(
    { ttlMs: 300 },
    async ({ stems, relay, results, aws, table }) => {
      const stem = unique("stale");
      await aws.dynamo.send(
        new PutItemCommand({
          TableName: table,
          Item: { stem: { S: stem }, enabled: { BOOL: true } },
        }),
      );
      assert.deepEqual(await stems.lookup(stem, `${stem}:a`), {
        kind: "stem",
        enabled: true,
      });
      await aws.dynamo.send(
        new UpdateItemCommand({
          TableName: table,
          Key: { stem: { S: stem } },
          UpdateExpression: "SET enabled = :f",
          ExpressionAttributeValues: { ":f": { BOOL: false } },
        }),
      );
      await sleep(400);
      const during = await Promise.all(
        Array.from({ length: 10 }, () => stems.lookup(stem, `${stem}:a`)),
      );
      assert.deepEqual(
        during.map((a) => a.kind === "stem" && a.enabled),
        Array(10).fill(true),
      );
      // The first stale lookup started the refresh; the others shared it.
      assert.deepEqual(results.slice(-10), [
        "stale",
        ...Array(9).fill("inflight"),
      ]);
      await until(async () => {
        const now = await stems.lookup(stem, `${stem}:a`);
        return now.kind === "stem" && now.enabled === false;
      });
      assert.equal(relay.count(GET), 2);
    },
  );
});

Deno.test("stems cache: an unusable item is a negative answer kept only for the negative TTL", async () => {
  await withCache(
    { ttlMs: 60_000, negativeTtlMs: 300 },
    async ({ stems, relay, aws, table }) => {
      const stem = unique("bad");
      await aws.dynamo.send(
        new PutItemCommand({
          TableName: table,
          Item: { stem: { S: stem }, enabled: { S: "yes" } },
        }),
      );
      const first = await stems.lookup(stem, `${stem}:a`);
      assert.deepEqual(first, {
        kind: "invalid",
        reason: 'attribute "enabled" expected a BOOL, found S',
      });
      await stems.lookup(stem, `${stem}:a`);
      assert.equal(relay.count(GET), 1);
      await aws.dynamo.send(
        new PutItemCommand({
          TableName: table,
          Item: { stem: { S: stem }, enabled: { BOOL: true } },
        }),
      );
      await sleep(400);
      await until(async () =>
        (await stems.lookup(stem, `${stem}:a`)).kind === "stem"
      );
      assert.equal(relay.count(GET), 2);
    },
  );
});

Deno.test("stems cache: a table that cannot be reached keeps serving the cached entry, and a new stem's lookup fails clearly", async () => {
  await withCache({ ttlMs: 200 }, async ({ stems, relay, aws, table }) => {
    const stem = unique("cached");
    await aws.dynamo.send(
      new PutItemCommand({
        TableName: table,
        Item: { stem: { S: stem }, enabled: { BOOL: true } },
      }),
    );
    await stems.lookup(stem, `${stem}:a`);
    await relay.close();
    await sleep(300);
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await stems.lookup(stem, `${stem}:a`), {
        kind: "stem",
        enabled: true,
      });
      await sleep(100);
    }
    const other = unique("unreachable");
    await assert.rejects(stems.lookup(other, `${other}:a`), {
      name: "StemLookupError",
      message:
        `Cannot read the stem's item from DynamoDB: table is "${table}", stem is "${other}"`,
    });
  });
});

async function until(condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("Timed out");
    await sleep(20);
  }
}
