/**
 * The local stack's remctld with the demo backend: the demo command runs with
 * the remctl principal's ticket and lands in the calls file.
 */

import assert from "node:assert/strict";
import { getStack } from "./helpers/stack.ts";
import { run } from "./helpers/stack_check.ts";

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
