/**
 * The local stack against its real parts: MIT KDC + k5start tickets, slapd
 * (GSSAPI, StartTLS, syncprov), remctld with the demo backend, moto's SNS,
 * SQS, DynamoDB and KMS; then `down` leaving nothing behind.
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
import { Client } from "ldapts";
import { loadConfig } from "../lib/config/mod.ts";
import { planData } from "../tasks/stack/data.ts";
import { StackError } from "../tasks/stack/errors.ts";
import type { StackInfo, StackProcess } from "../tasks/stack/types.ts";
import { getStack, startStack } from "./helpers/stack.ts";

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  argv: string[],
  env: Record<string, string> = {},
): Promise<Output> {
  const output = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env,
    stdin: "null",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/** ldapwhoami/ldapsearch environment for a GSSAPI bind with the consumer's k5start cache. */
function gssapiEnv(stack: StackInfo): Record<string, string> {
  return {
    KRB5_CONFIG: stack.krb5Config,
    KRB5CCNAME: `FILE:${stack.ccaches.ldapClient}`,
    LDAPSASL_NOCANON: "on",
  };
}

async function whoamiGssapi(
  stack: StackInfo,
  maxSsf?: number,
): Promise<Output> {
  const argv = ["ldapwhoami", "-Y", "GSSAPI", "-N", "-H", stack.ldap.gssapiUrl];
  if (maxSsf !== undefined) argv.push("-O", `maxssf=${maxSsf}`);
  return await run(argv, gssapiEnv(stack));
}

/** The workgroup names (cn) and final cookie of a refreshOnly sync search. */
async function syncWorkgroups(
  stack: StackInfo,
): Promise<{ names: string[]; cookie: string | undefined }> {
  const result = await run([
    "ldapsearch",
    "-Q",
    "-o",
    "ldif-wrap=no",
    "-Y",
    "GSSAPI",
    "-N",
    "-H",
    stack.ldap.gssapiUrl,
    "-b",
    stack.ldap.workgroupBase,
    "-E",
    "!sync=ro",
    "(objectClass=groupOfNames)",
    "cn",
  ], gssapiEnv(stack));
  assert.equal(result.code, 0, result.stderr);
  const names = [...result.stdout.matchAll(/^cn: (.*)$/gm)].map((m) => m[1]);
  const cookie = result.stdout.match(/^# cookie: (rid=.*csn=.*)$/m)?.[1];
  return { names, cookie };
}

/** Listening TCP ports from /proc/net/tcp{,6} (read with cat: Deno wants --allow-all for /proc). */
async function listeningPorts(): Promise<Set<number>> {
  const ports = new Set<number>();
  const tables = await run(["cat", "/proc/net/tcp", "/proc/net/tcp6"]);
  for (const line of tables.stdout.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields.length > 3 && fields[3] === "0A") {
      ports.add(parseInt(fields[1].split(":")[1], 16));
    }
  }
  return ports;
}

/** Whether `pid` runs (exists and is not a zombie), from /proc/PID/stat. */
async function alive(pid: number): Promise<boolean> {
  const result = await run(["cat", `/proc/${pid}/stat`]);
  if (result.code !== 0) return false;
  const state =
    result.stdout.slice(result.stdout.lastIndexOf(")") + 2).split(" ")[0];
  return state !== "Z" && state !== "X";
}

/** Runs `deno task stack ACTION DIR` (the CLI, in its own process). */
function stackTask(
  action: string,
  dir: string,
  env: Record<string, string> = {},
): Promise<Output> {
  const root = new URL("../", import.meta.url).pathname;
  return run([
    Deno.execPath(),
    "run",
    "--frozen",
    "--cached-only",
    "--allow-all",
    "--config",
    `${root}deno.json`,
    `${root}tasks/stack.ts`,
    action,
    dir,
  ], env);
}

function stackPorts(stack: StackInfo): number[] {
  return [stack.kdc.port, stack.ldap.port, stack.remctl.port, stack.aws.port];
}

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

Deno.test("the consumer principal binds to slapd with GSSAPI, with and without a security layer", async () => {
  const stack = await getStack();
  const expected = `dn:${stack.ldap.consumerDn}`;
  const layered = await whoamiGssapi(stack);
  assert.equal(layered.code, 0, layered.stderr);
  assert.equal(layered.stdout.trim(), expected);
  assert.match(layered.stderr, /SASL SSF: (56|128|256)/);
  const plain = await whoamiGssapi(stack, 0);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(plain.stdout.trim(), expected);
  assert.match(plain.stderr, /SASL SSF: 0/);
});

Deno.test("a GSSAPI bind without a ticket cache is refused", async () => {
  const stack = await getStack();
  const result = await run(
    ["ldapwhoami", "-Y", "GSSAPI", "-N", "-H", stack.ldap.gssapiUrl],
    { ...gssapiEnv(stack), KRB5CCNAME: `FILE:${stack.dir}/no-such-ccache` },
  );
  assert.notEqual(result.code, 0);
});

Deno.test("a refreshOnly sync search returns every sample workgroup and a cookie", async () => {
  const stack = await getStack();
  const { names, cookie } = await syncWorkgroups(stack);
  assert.equal(names.length, stack.data.workgroups);
  assert.equal(new Set(names).size, names.length);
  for (const name of names) {
    assert.match(name, /^[a-z-]+:[a-z0-9-]+$/, `workgroup name "${name}"`);
    assert.ok(stack.data.stems.includes(name.split(":")[0]), name);
  }
  assert.ok(names.includes(stack.data.largestWorkgroup));
  assert.ok(cookie !== undefined, "no cookie in the SyncDone control");
  assert.match(cookie, /^rid=\d+,csn=\d{14}\.\d{6}Z#/);
});

Deno.test("StartTLS with the generated CA, then a simple bind as admin, reads the large and the non-ASCII workgroups", async () => {
  const stack = await getStack();
  const client = new Client({ url: stack.ldap.url });
  try {
    await client.startTLS({
      ca: [await Deno.readTextFile(stack.ldap.caFile)],
      servername: "localhost",
    });
    const password = await Deno.readTextFile(stack.ldap.adminPasswordFile);
    await client.bind(stack.ldap.adminDn, password);
    const largest = await client.search(stack.ldap.workgroupBase, {
      filter: `(cn=${stack.data.largestWorkgroup})`,
      attributes: ["member"],
    });
    assert.equal(largest.searchEntries.length, 1);
    const members = largest.searchEntries[0].member as string[];
    assert.equal(members.length, stack.data.largestWorkgroupMembers);
    assert.ok(members.length >= 3000);
    const person = await client.search(members[members.length - 1], {
      scope: "base",
      attributes: ["uid", "employeeNumber"],
    });
    assert.equal(person.searchEntries.length, 1);
    assert.match(String(person.searchEntries[0].employeeNumber), /^\d+$/);
    const special = await client.search(stack.ldap.workgroupBase, {
      filter: `(cn=${stack.data.nonAsciiWorkgroup})`,
      attributes: ["description"],
    });
    assert.equal(
      special.searchEntries[0].description,
      "Équipe de recherche — 研究",
    );
  } finally {
    await client.unbind();
  }
});

Deno.test("StartTLS refuses a client that does not trust the generated CA", async () => {
  const stack = await getStack();
  const result = await run(
    ["ldapwhoami", "-x", "-ZZ", "-H", stack.ldap.url],
    {
      LDAPTLS_CACERT: "/etc/ssl/certs/ca-certificates.crt",
      LDAPTLS_REQCERT: "demand",
    },
  );
  assert.notEqual(result.code, 0);
});

Deno.test("the demo remctl command runs with the remctl principal's ticket and lands in the calls file", async () => {
  const stack = await getStack();
  const env = {
    KRB5_CONFIG: stack.krb5Config,
    KRB5CCNAME: `FILE:${stack.ccaches.remctlClient}`,
  };
  const token = `call-${crypto.randomUUID()}`;
  const remctl = [
    "remctl",
    "-p",
    String(stack.remctl.port),
    "-s",
    stack.remctl.service,
    stack.remctl.host,
    stack.remctl.command,
    stack.remctl.subcommand,
  ];
  const ok = await run([...remctl, token, "Équipe 研究", "on stdin"], env);
  assert.equal(ok.code, 0, ok.stderr);
  const calls = (await Deno.readTextFile(stack.remctl.callsFile)).trim()
    .split("\n").map((line) => JSON.parse(line));
  const call = calls.find((c) => c.argv.includes(token));
  assert.ok(call, `no call with ${token} in ${stack.remctl.callsFile}`);
  assert.deepEqual(call.argv, [stack.remctl.subcommand, token, "Équipe 研究"]);
  // stdin=last: the last argument reaches the backend on standard input.
  assert.equal(call.stdin, "on stdin");
  assert.equal(call.principal, stack.principals.remctlClient);

  await Deno.writeTextFile(stack.remctl.exitCodeFile, "3");
  try {
    const failed = await run([...remctl, `${token}-fail`], env);
    assert.equal(failed.code, 3);
  } finally {
    await Deno.remove(stack.remctl.exitCodeFile);
  }

  const wrongPrincipal = await run([...remctl, `${token}-denied`], {
    ...env,
    KRB5CCNAME: `FILE:${stack.ccaches.ldapClient}`,
  });
  assert.equal(wrongPrincipal.code, 255, wrongPrincipal.stderr);
});

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

Deno.test("secrets of the stack are mode 0600", async () => {
  const stack = await getStack();
  for (
    const path of [
      ...Object.values(stack.keytabs),
      ...Object.values(stack.ccaches),
      stack.ldap.adminPasswordFile,
    ]
  ) {
    const mode = (await Deno.stat(path)).mode! & 0o777;
    assert.equal(mode, 0o600, `${path} has mode ${mode.toString(8)}`);
  }
});

Deno.test("up from the CLI prints stack.json, its processes outlive it, and down leaves no process or port behind", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-stack-cli-" });
  const task = (action: string) =>
    run([
      Deno.execPath(),
      "run",
      "--frozen",
      "--cached-only",
      "--allow-all",
      "tasks/stack.ts",
      action,
      dir,
    ], {});
  try {
    const started = await task("up");
    assert.equal(started.code, 0, started.stderr);
    const printed: StackInfo = JSON.parse(started.stdout);
    assert.deepEqual(
      printed,
      JSON.parse(await Deno.readTextFile(`${dir}/stack.json`)),
    );
    assert.match(started.stderr, /up in \d+ ms/);
    assert.ok(printed.processes.length >= 6);
    for (const process of printed.processes) {
      assert.ok(
        await alive(process.pid),
        `${process.name} (${process.pid}) died with up`,
      );
    }
    const listening = await listeningPorts();
    for (const port of stackPorts(printed)) {
      assert.ok(listening.has(port), `port ${port}`);
    }

    const again = await task("up");
    assert.notEqual(
      again.code,
      0,
      "a second up in the same DIR must be refused",
    );
    assert.match(again.stderr, /runs there already/);

    const stopped = await task("down");
    assert.equal(stopped.code, 0, stopped.stderr);
    for (const process of printed.processes) {
      assert.ok(
        !(await alive(process.pid)),
        `${process.name} (${process.pid}) still runs`,
      );
    }
    const after = await listeningPorts();
    for (const port of stackPorts(printed)) {
      assert.ok(!after.has(port), `port ${port} still listens`);
    }
    const twice = await task("down");
    assert.equal(twice.code, 0, twice.stderr);
    assert.match(twice.stderr, /stopped 0 process/);

    const restarted = await task("up");
    assert.equal(restarted.code, 0, "up again in the same DIR after down");
    const info: StackInfo = JSON.parse(restarted.stdout);
    assert.equal((await whoamiGssapi(info)).code, 0);
    assert.equal((await task("down")).code, 0);
  } finally {
    await task("down");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two stacks run side by side, one with generated data, and slapd restarts with its data", async () => {
  const [a, b] = await Promise.all([
    startStack(),
    startStack({ groups: 120, members: 7, people: 40 }),
  ]);
  try {
    const portsA = stackPorts(a.info);
    const portsB = stackPorts(b.info);
    assert.equal(new Set([...portsA, ...portsB]).size, 8);
    for (const stack of [a.info, b.info]) {
      const whoami = await whoamiGssapi(stack);
      assert.equal(whoami.code, 0, whoami.stderr);
    }
    const generated = await syncWorkgroups(b.info);
    assert.equal(generated.names.length, 120);
    assert.equal(b.info.data.memberValues, 120 * 7);

    const before = await syncWorkgroups(a.info);
    const oldPid = a.info.ldap.pid;
    await a.restartSlapd();
    assert.notEqual(a.info.ldap.pid, oldPid);
    assert.ok(!(await alive(oldPid)));
    const afterRestart = await syncWorkgroups(a.info);
    assert.deepEqual(afterRestart.names.sort(), before.names.sort());
    const saved: StackInfo = JSON.parse(
      await Deno.readTextFile(`${a.info.dir}/stack.json`),
    );
    assert.equal(saved.ldap.pid, a.info.ldap.pid);
  } finally {
    await Promise.all([a.down(), b.down()]);
  }
  for (const stack of [a.info, b.info]) {
    for (const process of stack.processes) {
      assert.ok(!(await alive(process.pid)));
    }
  }
});

Deno.test("the data generator rejects sizes it cannot honour, naming the option", () => {
  assert.throws(
    () => planData({ groups: 10, members: 50, people: 20 }),
    (error: unknown) =>
      error instanceof StackError && /--members/.test(error.message),
  );
  assert.throws(
    () => planData({ groups: 0 }),
    (error: unknown) =>
      error instanceof StackError && /--groups is 0/.test(error.message),
  );
  const plan = planData({ groups: 3, members: 2, people: 4 });
  const ldif = [...plan.chunks()].join("");
  assert.equal(ldif.match(/^dn: cn=.*,ou=workgroups,/gm)?.length, 3);
  assert.equal(ldif.match(/^member: /gm)?.length, 6);
});

Deno.test("an up that fails halfway stops every process it had started", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-stack-fail-" });
  try {
    // A broken slapd config directory makes slapadd -n0 fail while the KDC,
    // k5start, remctld and moto start in parallel.
    await Deno.mkdir(`${dir}/slapd/slapd.d/cn=config`, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/slapd/slapd.d/cn=config.ldif`,
      "garbage\n",
    );
    const result = await stackTask("up", dir);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /slapadd/);
    assert.match(result.stderr, /up failed, stopping \d+ started process/);
    const processes: StackProcess[] = JSON.parse(
      await Deno.readTextFile(`${dir}/processes.json`),
    );
    assert.ok(processes.length > 0, "the parallel parts should have started");
    for (const process of processes) {
      assert.ok(
        !(await alive(process.pid)),
        `${process.name} (${process.pid}) still runs`,
      );
    }
  } finally {
    await stackTask("down", dir);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the stack's wgsync.toml passes loadConfig for every role and points at the stack", async () => {
  const stack = await getStack();
  const config = loadConfig(stack.config, {
    sections: [
      "ldap",
      "channel",
      "aws",
      "event",
      "remctl",
      "keytab_obtain",
      "ebs",
      "web",
    ],
  });
  assert.equal(config.ldap?.url, stack.ldap.url);
  assert.equal(config.ldap?.bind.method, "gssapi");
  assert.equal(config.ldap?.workgroups.base, stack.ldap.workgroupBase);
  assert.equal(config.aws?.endpoint, stack.aws.endpoint);
  assert.equal(config.event?.topic_arn, stack.aws.topicArn);
  assert.deepEqual(
    config.remctl?.targets.map((t) => [t.queue_url, t.port]),
    stack.aws.queues.map((q) => [q.url, stack.remctl.port]),
  );
  const credentials = await Deno.readTextFile(config.aws!.credentials_file!);
  assert.equal(
    credentials.trim(),
    `${stack.aws.accessKeyId}:${stack.aws.secretAccessKey}`,
  );
});

Deno.test("missing programs give one message with the exact install command", async () => {
  const dir = `${await Deno.makeTempDir({
    prefix: "wgsync-stack-path-",
  })}/stack`;
  try {
    // Programs in /usr/bin (ldap-utils, kstart, remctl, openssl, krb5-user)
    // and moto_server are not found with this PATH.
    const result = await stackTask("up", dir, { PATH: "/nonexistent" });
    assert.equal(result.code, 1);
    const installs = result.stderr.match(/apt-get install -y [^\n]*/g) ?? [];
    assert.equal(installs.length, 1, result.stderr);
    for (const pkg of ["ldap-utils", "kstart", "remctl-client", "openssl"]) {
      assert.match(installs[0], new RegExp(`\\b${pkg}\\b`));
    }
    assert.match(result.stderr, /ldapsearch/);
    assert.match(result.stderr, /pip install "moto\[server\]"/);
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir.replace(/\/stack$/, ""), { recursive: true });
  }
});
