/**
 * keytab-obtain killed while writing (helpers/keytab_obtain_killed.ts): the
 * old keytab stays or none is left, and the next run removes the temporary
 * file.
 *
 * wgsync-keytab-obtain against the local stack: the stack's encrypted
 * keytabs (sealed by the provisioning side with moto's KMS), the role run as
 * a subprocess with exactly its permissions (plus the test's directories),
 * real KMS Decrypt with encryption contexts, real MIT keytabs (kadmin.local,
 * klist, kinit).
 */

import assert from "node:assert/strict";
import { getStack, signal } from "./helpers/stack.ts";
import {
  filesNextToOutput,
  makeCase,
  obtain,
  removeCase,
  roleCommand,
  ROOT,
} from "./helpers/keytab_obtain.ts";

const KILLED = `${ROOT}tests/helpers/keytab_obtain_killed.ts`;

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
