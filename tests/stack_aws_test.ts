/**
 * The local stack's moto: SNS to SQS with filter policies, KMS data keys, the
 * stems table in DynamoDB.
 */

import assert from "node:assert/strict";
import { DescribeTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DecryptCommand,
  GenerateDataKeyCommand,
  KMSClient,
} from "@aws-sdk/client-kms";
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import type { StackInfo } from "../tasks/stack/types.ts";
import { getStack } from "./helpers/stack.ts";

function awsConfig(stack: StackInfo) {
  return {
    endpoint: stack.aws.endpoint,
    region: stack.aws.region,
    credentials: {
      accessKeyId: stack.aws.accessKeyId,
      secretAccessKey: stack.aws.secretAccessKey,
    },
  };
}

Deno.test("an SNS publish reaches only the queue whose filter policy matches its stem", async () => {
  const stack = await getStack();
  const sns = new SNSClient(awsConfig(stack));
  const sqs = new SQSClient(awsConfig(stack));
  try {
    assert.ok(stack.aws.queues.length >= 2);
    const [first, second] = stack.aws.queues;
    const stem = first.filterPolicy.stem[0];
    assert.ok(!second.filterPolicy.stem.includes(stem));
    const body = JSON.stringify({ v: 1, id: crypto.randomUUID(), stem });
    await sns.send(
      new PublishCommand({
        TopicArn: stack.aws.topicArn,
        Message: body,
        MessageGroupId: `${stem}:test`,
        MessageDeduplicationId: crypto.randomUUID(),
        MessageAttributes: {
          stem: { DataType: "String", StringValue: stem },
          type: { DataType: "String", StringValue: "member.added" },
        },
      }),
    );
    const received = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: first.url,
        WaitTimeSeconds: 2,
        MaxNumberOfMessages: 10,
      }),
    );
    assert.equal(received.Messages?.length, 1);
    assert.equal(received.Messages![0].Body, body, "raw delivery expected");
    await sqs.send(
      new DeleteMessageCommand({
        QueueUrl: first.url,
        ReceiptHandle: received.Messages![0].ReceiptHandle,
      }),
    );
    const other = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: second.url, WaitTimeSeconds: 1 }),
    );
    assert.equal(other.Messages?.length ?? 0, 0);
  } finally {
    sns.destroy();
    sqs.destroy();
  }
});

Deno.test("KMS GenerateDataKey and Decrypt round-trip with the stack's key", async () => {
  const stack = await getStack();
  const kms = new KMSClient(awsConfig(stack));
  try {
    const context = { purpose: "wgsync-test" };
    const key = await kms.send(
      new GenerateDataKeyCommand({
        KeyId: stack.aws.kmsKeyId,
        KeySpec: "AES_256",
        EncryptionContext: context,
      }),
    );
    assert.equal(key.Plaintext?.length, 32);
    const decrypted = await kms.send(
      new DecryptCommand({
        CiphertextBlob: key.CiphertextBlob,
        EncryptionContext: context,
      }),
    );
    assert.deepEqual(decrypted.Plaintext, key.Plaintext);
    await assert.rejects(
      kms.send(
        new DecryptCommand({
          CiphertextBlob: key.CiphertextBlob,
          EncryptionContext: { purpose: "other" },
        }),
      ),
    );
  } finally {
    kms.destroy();
  }
});

Deno.test("the stems table exists with the string key stem", async () => {
  const stack = await getStack();
  const dynamo = new DynamoDBClient(awsConfig(stack));
  try {
    const table = await dynamo.send(
      new DescribeTableCommand({ TableName: stack.aws.stemsTable }),
    );
    assert.deepEqual(table.Table?.KeySchema, [{
      AttributeName: "stem",
      KeyType: "HASH",
    }]);
    assert.deepEqual(table.Table?.AttributeDefinitions, [{
      AttributeName: "stem",
      AttributeType: "S",
    }]);
  } finally {
    dynamo.destroy();
  }
});
