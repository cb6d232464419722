/**
 * keytab-obtain when KMS is unreachable: retried with backoff until
 * timeout_seconds, and the keytab written once KMS answers again (a relay in
 * front of moto is cut and restored).
 *
 * wgsync-keytab-obtain against the local stack: the stack's encrypted
 * keytabs (sealed by the provisioning side with moto's KMS), the role run as
 * a subprocess with exactly its permissions (plus the test's directories),
 * real KMS Decrypt with encryption contexts, real MIT keytabs (kadmin.local,
 * klist, kinit).
 */

import assert from "node:assert/strict";
import { getStack } from "./helpers/stack.ts";
import {
  assertRefused,
  makeCase,
  removeCase,
  roleCommand,
} from "./helpers/keytab_obtain.ts";

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
