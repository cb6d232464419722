/**
 * The stack's moto (tasks/stack/moto_fifo.py) blocks an SQS FIFO message
 * group while any of its messages is in flight, as AWS does, and stock
 * moto_server does not: each test starts real moto servers of its own.
 */

import assert from "node:assert/strict";
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { sleep } from "../lib/async.ts";
import { patchedMotoArgv } from "../tasks/stack/moto_fifo.ts";
import { checkPrerequisites } from "../tasks/stack/prerequisites.ts";

interface Moto {
  sqs: SQSClient;
  stop(): Promise<void>;
}

/**
 * Starts moto's server (stock or the stack's patched one) as a child of this
 * test; `sh` runs it since the test task's --allow-run lists no python.
 */
async function startMoto(patched: boolean): Promise<Moto> {
  const { moto_server } = checkPrerequisites();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const args = ["-H", "127.0.0.1", "-p", String(port)];
  const argv = patched ? patchedMotoArgv(moto_server, args) : [
    moto_server,
    ...args,
  ];
  const child = new Deno.Command("sh", {
    args: ["-c", 'exec "$@"', "sh", ...argv],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Exited already.
    }
    await child.status;
    await stderr;
  };
  for (let attempt = 0;; attempt++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (error) {
      if (attempt === 300) {
        await stop();
        throw new Error(
          `moto did not listen on 127.0.0.1:${port}: ${await stderr}`,
          { cause: error },
        );
      }
      await sleep(100);
    }
  }
  const sqs = new SQSClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  return {
    sqs,
    async stop() {
      sqs.destroy();
      await stop();
    },
  };
}

async function fifoQueue(
  sqs: SQSClient,
  attributes: Record<string, string> = {},
): Promise<string> {
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({
      QueueName: `q-${crypto.randomUUID()}.fifo`,
      Attributes: { FifoQueue: "true", VisibilityTimeout: "30", ...attributes },
    }),
  );
  return QueueUrl!;
}

async function send(
  sqs: SQSClient,
  queueUrl: string,
  group: string,
  body: string,
): Promise<void> {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: body,
      MessageGroupId: group,
      MessageDeduplicationId: body,
    }),
  );
}

async function receive(
  sqs: SQSClient,
  queueUrl: string,
  options: { wait: number; max?: number; visibility?: number },
): Promise<Message[]> {
  const reply = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: options.max ?? 1,
      WaitTimeSeconds: options.wait,
      VisibilityTimeout: options.visibility,
      MessageSystemAttributeNames: ["All"],
    }),
  );
  return reply.Messages ?? [];
}

const bodies = (messages: Message[]) => messages.map((m) => m.Body);

/**
 * Two long polls wait on an empty FIFO queue; m1 then m2 of one group are
 * sent. The poll that got m1 holds it in flight; the other poll's answer.
 */
async function secondPollWhileFirstInFlight(sqs: SQSClient): Promise<{
  queueUrl: string;
  first: Message[];
  second: Message[];
}> {
  const queueUrl = await fifoQueue(sqs);
  const polls = [
    receive(sqs, queueUrl, { wait: 3 }),
    receive(sqs, queueUrl, { wait: 3 }),
  ];
  await sleep(300); // both polls are waiting in moto
  await send(sqs, queueUrl, "G", "m1");
  await sleep(300); // one poll has m1
  await send(sqs, queueUrl, "G", "m2");
  const [a, b] = await Promise.all(polls);
  const [first, second] = a.length > 0 && a[0].Body === "m1" ? [a, b] : [b, a];
  return { queueUrl, first, second };
}

Deno.test("stock moto_server hands a long poll a FIFO group's later message while an earlier one is in flight (why the stack patches it)", async () => {
  const moto = await startMoto(false);
  try {
    const { first, second } = await secondPollWhileFirstInFlight(moto.sqs);
    assert.deepEqual(bodies(first), ["m1"]);
    assert.deepEqual(bodies(second), ["m2"]);
  } finally {
    await moto.stop();
  }
});

Deno.test("the stack's moto holds a group's later message while an earlier one is in flight, and a waiting long poll gets it once that one is deleted", async () => {
  const moto = await startMoto(true);
  try {
    const { sqs } = moto;
    const { queueUrl, first, second } = await secondPollWhileFirstInFlight(
      sqs,
    );
    assert.deepEqual(bodies(first), ["m1"]);
    assert.deepEqual(bodies(second), []);
    const waiting = receive(sqs, queueUrl, { wait: 10 });
    await sleep(300);
    await sqs.send(
      new DeleteMessageCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: first[0].ReceiptHandle,
      }),
    );
    assert.deepEqual(bodies(await waiting), ["m2"]);
  } finally {
    await moto.stop();
  }
});

Deno.test("the stack's moto: other groups go on, an expired message comes back before its successor, a batch brings a group's messages in order", async () => {
  const moto = await startMoto(true);
  try {
    const { sqs } = moto;
    const queueUrl = await fifoQueue(sqs);
    for (const body of ["g1", "g2", "g3"]) await send(sqs, queueUrl, "G", body);
    await send(sqs, queueUrl, "H", "h1");
    const [held] = await receive(sqs, queueUrl, { wait: 0, visibility: 2 });
    assert.equal(held.Body, "g1");
    assert.deepEqual(bodies(await receive(sqs, queueUrl, { wait: 1 })), [
      "h1",
    ]);
    assert.deepEqual(bodies(await receive(sqs, queueUrl, { wait: 1 })), []);
    // g1's visibility ends within this poll: g1 again, not g2.
    const [again] = await receive(sqs, queueUrl, { wait: 5, visibility: 0 });
    assert.equal(again.Body, "g1");
    assert.equal(again.Attributes?.ApproximateReceiveCount, "2");
    // Released (visibility 0): the group's messages in order in one batch.
    assert.deepEqual(
      bodies(await receive(sqs, queueUrl, { wait: 1, max: 10 })),
      ["g1", "g2", "g3"],
    );
  } finally {
    await moto.stop();
  }
});

Deno.test("the stack's moto dead-letters a group's first message after maxReceiveCount and hands out its successor", async () => {
  const moto = await startMoto(true);
  try {
    const { sqs } = moto;
    const deadLetterUrl = await fifoQueue(sqs);
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: deadLetterUrl,
        AttributeNames: ["QueueArn"],
      }),
    );
    const queueUrl = await fifoQueue(sqs, {
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: Attributes!.QueueArn,
        maxReceiveCount: 2,
      }),
    });
    for (const body of ["m1", "m2"]) await send(sqs, queueUrl, "G", body);
    for (let i = 0; i < 2; i++) {
      const [m] = await receive(sqs, queueUrl, { wait: 0 });
      assert.equal(m.Body, "m1");
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: m.ReceiptHandle,
          VisibilityTimeout: 0,
        }),
      );
      await sleep(5); // visibility 0 becomes visible on the next millisecond
    }
    assert.deepEqual(bodies(await receive(sqs, queueUrl, { wait: 1 })), [
      "m2",
    ]);
    assert.deepEqual(
      bodies(await receive(sqs, deadLetterUrl, { wait: 1 })),
      ["m1"],
    );
  } finally {
    await moto.stop();
  }
});

Deno.test("the stack's moto: a waiting long poll gets a group's next batch once DeleteMessageBatch deleted the one in flight, and not before", async () => {
  const moto = await startMoto(true);
  try {
    const { sqs } = moto;
    const queueUrl = await fifoQueue(sqs);
    for (let i = 1; i <= 5; i++) await send(sqs, queueUrl, "G", `m${i}`);
    const batch = await receive(sqs, queueUrl, { wait: 0, max: 3 });
    assert.deepEqual(bodies(batch), ["m1", "m2", "m3"]);
    const waiting = receive(sqs, queueUrl, { wait: 10, max: 10 });
    await sleep(300);
    // Two of the three deleted: the group is still in flight.
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: batch.slice(0, 2).map((m, i) => ({
          Id: String(i),
          ReceiptHandle: m.ReceiptHandle,
        })),
      }),
    );
    assert.deepEqual(bodies(await receive(sqs, queueUrl, { wait: 0 })), []);
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: [{ Id: "0", ReceiptHandle: batch[2].ReceiptHandle }],
      }),
    );
    assert.deepEqual(bodies(await waiting), ["m4", "m5"]);
  } finally {
    await moto.stop();
  }
});
