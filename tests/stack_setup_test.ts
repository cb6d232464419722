/**
 * What the local stack sets up before it starts anything: secrets mode 0600,
 * a wgsync.toml every role loads, the data generator's limits, the install
 * command for missing programs.
 */

import assert from "node:assert/strict";
import { loadConfig } from "../lib/config/mod.ts";
import { planData } from "../tasks/stack/data.ts";
import { StackError } from "../tasks/stack/errors.ts";
import { getStack } from "./helpers/stack.ts";
import { stackTask } from "./helpers/stack_check.ts";

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
