/**
 * wgsync-keytab-obtain against the local stack: the stack's encrypted
 * keytabs (sealed by the provisioning side with moto's KMS), the role run as
 * a subprocess with exactly its permissions (plus the test's directories),
 * real KMS Decrypt with encryption contexts, real MIT keytabs (kadmin.local,
 * klist, kinit).
 */
import assert from "node:assert/strict";
import { stringify } from "smol-toml";
import { CreateKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { encryptKeytab } from "../lib/wgsync_keytab_obtain/mod.ts";
import { roleArgv, roleModule } from "../tasks/launch.ts";
import { getStack, signal, type StackInfo } from "./helpers/stack.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const KILLED = `${ROOT}tests/helpers/keytab_obtain_killed.ts`;
/** Outputs must be under /run (schema); the test task may write here. */
const RUN_BASE = "/run/wgsync-test";
const decoder = new TextDecoder();

interface Case {
  dir: string;
  config: string;
  output: string;
  encrypted: string;
}

interface CaseOptions {
  instance?: "ldap" | "remctl";
  encrypted?: string;
  principal?: string;
  endpoint?: string;
  section?: Record<string, unknown>;
}

function kmsOf(stack: StackInfo): KMSClient {
  return new KMSClient({
    endpoint: stack.aws.endpoint,
    region: stack.aws.region,
    credentials: {
      accessKeyId: stack.aws.accessKeyId,
      secretAccessKey: stack.aws.secretAccessKey,
    },
  });
}

async function makeCase(
  stack: StackInfo,
  options: CaseOptions = {},
): Promise<Case> {
  const instance = options.instance ?? "ldap";
  const dir = await Deno.makeTempDir({ prefix: "wgsync-keytab-" });
  await Deno.mkdir(RUN_BASE, { recursive: true, mode: 0o700 });
  const output = `${RUN_BASE}/${
    dir.split("/").pop()
  }/wgsync-${instance}.keytab`;
  const encrypted = options.encrypted ??
    `${stack.dir}/keytabs/wgsync-${instance}.keytab.enc`;
  const config = `${dir}/wgsync.toml`;
  await Deno.writeTextFile(
    config,
    stringify({
      aws: {
        region: stack.aws.region,
        endpoint: options.endpoint ?? stack.aws.endpoint,
        credentials_file: `${stack.dir}/secrets/aws-credentials`,
      },
      keytab_obtain: {
        [instance]: {
          encrypted_keytab: encrypted,
          output,
          principal: options.principal ??
            (instance === "ldap"
              ? stack.principals.ldapClient
              : stack.principals.remctlClient),
          timeout_seconds: 5,
          ...options.section,
        },
      },
    }),
  );
  return { dir, config, output, encrypted };
}

async function removeCase(testCase: Case): Promise<void> {
  await Deno.remove(testCase.dir, { recursive: true });
  await Deno.remove(testCase.output.replace(/\/[^/]+$/, ""), {
    recursive: true,
  }).catch(() => {});
}

/**
 * The role (or `script`, e.g. the kill helper, in its place) with exactly the
 * role's permissions plus the test's and the stack's directories.
 */
function roleCommand(
  stack: StackInfo,
  testCase: Case,
  args: string[],
  script?: string,
): Deno.Command {
  const [command, ...argv] = roleArgv("keytab_obtain", {
    extraRead: [testCase.dir, stack.dir],
    args,
  });
  if (script !== undefined) {
    argv[argv.indexOf(roleModule("keytab_obtain"))] = script;
  }
  return new Deno.Command(command, {
    args: argv,
    cwd: ROOT,
    env: { NO_COLOR: "1", NOTIFY_SOCKET: "" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

async function obtain(
  stack: StackInfo,
  testCase: Case,
  instance = "ldap",
): Promise<{ code: number; stderr: string }> {
  const output = await roleCommand(stack, testCase, [
    "--config",
    testCase.config,
    "--instance",
    instance,
  ]).output();
  return { code: output.code, stderr: decoder.decode(output.stderr) };
}

/** The files in the output's directory (none: no keytab, no temporary file). */
async function filesNextToOutput(testCase: Case): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (
      const entry of Deno.readDir(testCase.output.replace(/\/[^/]+$/, ""))
    ) names.push(entry.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names.sort();
}

/** Runs a failing case: exit 1, the reason and the file named, nothing written. */
async function assertRefused(
  stack: StackInfo,
  testCase: Case,
  reason: RegExp,
  instance = "ldap",
): Promise<string> {
  const { code, stderr } = await obtain(stack, testCase, instance);
  assert.equal(code, 1, stderr);
  assert.match(stderr, reason);
  assert.match(
    stderr,
    new RegExp(`Cannot obtain the ${instance} keytab as .*: path is "`),
  );
  assert.deepEqual(await filesNextToOutput(testCase), []);
  return stderr;
}

Deno.test("keytab-obtain: the stack's encrypted keytab decrypts to the clear keytab, 0400, owned by the owner, usable by kinit", async () => {
  const stack = await getStack();
  const testCase = await makeCase(stack, { section: { owner: "nobody" } });
  try {
    const { code, stderr } = await obtain(stack, testCase);
    assert.equal(code, 0, stderr);
    assert.deepEqual(
      await Deno.readFile(testCase.output),
      await Deno.readFile(stack.keytabs.ldapClient),
    );
    const info = await Deno.stat(testCase.output);
    assert.equal((info.mode ?? 0) & 0o7777, 0o400);
    const nobody = (await Deno.readTextFile("/etc/passwd")).split("\n")
      .find((line) => line.startsWith("nobody:"))!.split(":");
    assert.deepEqual([info.uid, info.gid], [
      Number(nobody[2]),
      Number(nobody[3]),
    ]);
    assert.deepEqual(await filesNextToOutput(testCase), ["wgsync-ldap.keytab"]);
    const kinit = await new Deno.Command("kinit", {
      args: [
        "-k",
        "-t",
        testCase.output,
        "-c",
        `${testCase.dir}/ccache`,
        stack.principals.ldapClient,
      ],
      env: { KRB5_CONFIG: stack.krb5Config },
      stderr: "piped",
    }).output();
    assert.equal(kinit.code, 0, decoder.decode(kinit.stderr));
  } finally {
    await removeCase(testCase);
  }
});

Deno.test("keytab-obtain: a keytab sealed for ldap is refused for remctl (KMS encryption context)", async () => {
  const stack = await getStack();
  const testCase = await makeCase(stack, {
    instance: "remctl",
    encrypted: `${stack.dir}/keytabs/wgsync-ldap.keytab.enc`,
  });
  try {
    await assertRefused(
      stack,
      testCase,
      /KMS refused to decrypt the data key for the encryption context \{"wgsync:keytab": "remctl"\}: InvalidCiphertextException/,
      "remctl",
    );
  } finally {
    await removeCase(testCase);
  }
});

Deno.test("keytab-obtain: a data key of another KMS key than kms_key_id is refused", async () => {
  const stack = await getStack();
  const kms = kmsOf(stack);
  const other = await kms.send(new CreateKeyCommand({}));
  kms.destroy();
  const testCase = await makeCase(stack, {
    section: { kms_key_id: other.KeyMetadata!.KeyId },
  });
  try {
    await assertRefused(stack, testCase, /KMS refused to decrypt/);
  } finally {
    await removeCase(testCase);
  }
});

Deno.test("keytab-obtain: one changed byte of the ciphertext fails the AES-256-GCM tag", async () => {
  const stack = await getStack();
  const testCase = await makeCase(stack);
  const bytes = await Deno.readFile(
    `${stack.dir}/keytabs/wgsync-ldap.keytab.enc`,
  );
  bytes[bytes.length - 20] ^= 0x01;
  testCase.encrypted = `${testCase.dir}/tampered.enc`;
  await Deno.writeFile(testCase.encrypted, bytes);
  await rewriteEncrypted(testCase);
  try {
    await assertRefused(stack, testCase, /the AES-256-GCM tag does not match/);
  } finally {
    await removeCase(testCase);
  }
});

Deno.test("keytab-obtain: a ciphertext under another data key (header of another file) fails the tag", async () => {
  const stack = await getStack();
  const testCase = await makeCase(stack);
  const kms = kmsOf(stack);
  const clear = await Deno.readFile(stack.keytabs.ldapClient);
  const first = await encryptKeytab(clear, {
    kms,
    keyId: stack.aws.kmsKeyId,
    instance: "ldap",
  });
  const second = await encryptKeytab(clear, {
    kms,
    keyId: stack.aws.kmsKeyId,
    instance: "ldap",
  });
  kms.destroy();
  const headerLength = 7 + ((first[5] << 8) | first[6]);
  const spliced = new Uint8Array(second);
  spliced.set(first.subarray(0, headerLength), 0);
  assert.equal(headerLength, 7 + ((second[5] << 8) | second[6]));
  testCase.encrypted = `${testCase.dir}/spliced.enc`;
  await Deno.writeFile(testCase.encrypted, spliced);
  await rewriteEncrypted(testCase);
  try {
    await assertRefused(stack, testCase, /the AES-256-GCM tag does not match/);
  } finally {
    await removeCase(testCase);
  }
});

Deno.test("keytab-obtain: a keytab without the expected principal is refused, naming the principals found", async () => {
  const stack = await getStack();
  const testCase = await makeCase(stack, {
    principal: "service/someone-else@WGSYNC.TEST",
  });
  try {
    await assertRefused(
      stack,
      testCase,
      /expected a key of service\/someone-else@WGSYNC\.TEST, found keys of service\/wgsync-ldap@WGSYNC\.TEST only/,
    );
  } finally {
    await removeCase(testCase);
  }
});

Deno.test("keytab-obtain: an RC4 key is refused unless allow_rc4 is set", async () => {
  const stack = await getStack();
  const principal = `test/rc4-${crypto.randomUUID().slice(0, 8)}`;
  const dir = await Deno.makeTempDir({ prefix: "wgsync-keytab-rc4-" });
  const clear = `${dir}/rc4.keytab`;
  const env = {
    KRB5_CONFIG: stack.krb5Config,
    KRB5_KDC_PROFILE: stack.kdc.kdcProfile,
  };
  for (
    const query of [
      `addprinc -randkey -e arcfour-hmac:normal ${principal}`,
      `ktadd -k ${clear} -e arcfour-hmac:normal ${principal}`,
    ]
  ) {
    const result = await new Deno.Command("kadmin.local", {
      args: ["-q", query],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(result.code, 0, decoder.decode(result.stderr));
  }
  const kms = kmsOf(stack);
  const sealed = await encryptKeytab(await Deno.readFile(clear), {
    kms,
    keyId: stack.aws.kmsKeyId,
    instance: "ldap",
  });
  kms.destroy();
  const refused = await makeCase(stack, {
    principal: `${principal}@${stack.realm}`,
  });
  const allowed = await makeCase(stack, {
    principal: `${principal}@${stack.realm}`,
    section: { allow_rc4: true },
  });
  for (const testCase of [refused, allowed]) {
    testCase.encrypted = `${testCase.dir}/rc4.enc`;
    await Deno.writeFile(testCase.encrypted, sealed);
    await rewriteEncrypted(testCase);
  }
  try {
    await assertRefused(
      stack,
      refused,
      new RegExp(
        `expected only keys of the encryption types aes256-cts-hmac-sha384-192, .*, found ${principal}@WGSYNC\\.TEST kvno 2 arcfour-hmac`,
      ),
    );
    const { code, stderr } = await obtain(stack, allowed);
    assert.equal(code, 0, stderr);
    assert.deepEqual(
      await Deno.readFile(allowed.output),
      await Deno.readFile(clear),
    );
  } finally {
    await removeCase(refused);
    await removeCase(allowed);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("keytab-obtain: KMS unreachable is retried with backoff until timeout_seconds, then exit 1", async () => {
  const stack = await getStack();
  const port = closedPort();
  const testCase = await makeCase(stack, {
    endpoint: `http://127.0.0.1:${port}`,
    section: { timeout_seconds: 2 },
  });
  try {
    const stderr = await assertRefused(
      stack,
      testCase,
      /its data key was not decrypted: KMS stayed unreachable for \d+ attempt\(s\) until the deadline/,
    );
    assert.match(stderr, /KMS attempt 1 failed, retrying in \d+ ms/);
  } finally {
    await removeCase(testCase);
  }
});

Deno.test("keytab-obtain: KMS reachable again before the timeout: the keytab is written", async () => {
  const stack = await getStack();
  const port = closedPort();
  const testCase = await makeCase(stack, {
    endpoint: `http://127.0.0.1:${port}`,
    section: { timeout_seconds: 30 },
  });
  const child = roleCommand(stack, testCase, [
    "--config",
    testCase.config,
    "--instance",
    "ldap",
  ]).spawn();
  let relay: Deno.TcpListener | undefined;
  try {
    // Wait until the role has failed at least once, then open the way to moto.
    const reader = child.stderr.pipeThrough(new TextDecoderStream())
      .getReader();
    let seen = "";
    while (!/KMS attempt 1 failed/.test(seen)) {
      const { value, done } = await reader.read();
      assert.ok(!done, `the role ended without retrying:\n${seen}`);
      seen += value;
    }
    relay = startRelay(port, stack.aws.port);
    const rest = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return seen;
        seen += value;
      }
    })();
    const status = await child.status;
    await child.stdout.cancel();
    const stderr = await rest;
    assert.equal(status.code, 0, stderr);
    assert.deepEqual(
      await Deno.readFile(testCase.output),
      await Deno.readFile(stack.keytabs.ldapClient),
    );
  } finally {
    relay?.close();
    await removeCase(testCase);
  }
});

Deno.test("keytab-obtain: killed between write and rename: the old keytab stays, the next run removes the temporary file", async () => {
  const stack = await getStack();
  const testCase = await makeCase(stack);
  try {
    const first = await obtain(stack, testCase);
    assert.equal(first.code, 0, first.stderr);
    const old = await Deno.readFile(testCase.output);
    // Reseal the keytab: a new file, same clear keytab.
    const child = roleCommand(
      stack,
      testCase,
      [testCase.config, "ldap"],
      KILLED,
    ).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let line = "";
    while (!line.includes("\n")) {
      const { value, done } = await reader.read();
      assert.ok(!done, "the helper ended before the rename");
      line += value;
    }
    const temporary = /^temporary (\S+)/.exec(line)![1];
    signal(child.pid, "SIGKILL");
    await child.status;
    await reader.cancel();
    await child.stderr.cancel();
    assert.deepEqual(await Deno.readFile(testCase.output), old);
    const name = temporary.split("/").pop()!;
    assert.deepEqual(
      await filesNextToOutput(testCase),
      [
        name,
        "wgsync-ldap.keytab",
      ].sort(),
    );
    assert.equal((await Deno.stat(temporary)).mode! & 0o777, 0o400);
    const again = await obtain(stack, testCase);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await filesNextToOutput(testCase), ["wgsync-ldap.keytab"]);
  } finally {
    await removeCase(testCase);
  }
});

Deno.test("keytab-obtain: killed before the first keytab was renamed leaves no keytab", async () => {
  const stack = await getStack();
  const testCase = await makeCase(stack);
  try {
    const child = roleCommand(
      stack,
      testCase,
      [testCase.config, "ldap"],
      KILLED,
    ).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    const { value } = await reader.read();
    assert.match(value ?? "", /^temporary /);
    signal(child.pid, "SIGKILL");
    await child.status;
    await reader.cancel();
    await child.stderr.cancel();
    const names = await filesNextToOutput(testCase);
    assert.ok(!names.includes("wgsync-ldap.keytab"), `found ${names}`);
  } finally {
    await removeCase(testCase);
  }
});

Deno.test("keytab-obtain: --check-config refuses a missing --instance and an unreadable encrypted keytab (78)", async () => {
  const stack = await getStack();
  const testCase = await makeCase(stack, {
    encrypted: "/etc/wgsync/no-such.keytab.enc",
  });
  try {
    const missing = await roleCommand(stack, testCase, [
      "--config",
      testCase.config,
      "--check-config",
    ]).output();
    assert.equal(missing.code, 78);
    assert.match(
      decoder.decode(missing.stderr),
      /flag "--instance" expected ldap or remctl, found null/,
    );
    const unreadable = await roleCommand(stack, testCase, [
      "--config",
      testCase.config,
      "--instance",
      "ldap",
      "--check-config",
    ]).output();
    assert.equal(unreadable.code, 78);
    assert.match(
      decoder.decode(unreadable.stderr),
      /key "keytab_obtain\.ldap\.encrypted_keytab" expected an encrypted keytab, found .*: path is "\/etc\/wgsync\/no-such\.keytab\.enc"/,
    );
  } finally {
    await removeCase(testCase);
  }
});

async function rewriteEncrypted(testCase: Case): Promise<void> {
  const text = await Deno.readTextFile(testCase.config);
  await Deno.writeTextFile(
    testCase.config,
    text.replace(
      /encrypted_keytab = "[^"]*"/,
      `encrypted_keytab = "${testCase.encrypted}"`,
    ),
  );
}

/** A port nothing listens on (bound and released at once). */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Forwards TCP connections on `port` to `target` on 127.0.0.1. */
function startRelay(port: number, target: number): Deno.TcpListener {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  (async () => {
    for await (const conn of listener) {
      const upstream = await Deno.connect({
        hostname: "127.0.0.1",
        port: target,
      });
      conn.readable.pipeTo(upstream.writable).catch(() => {});
      upstream.readable.pipeTo(conn.writable).catch(() => {});
    }
  })().catch(() => {});
  return listener;
}
