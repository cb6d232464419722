/**
 * wgsync-ldap's channel to the Event Generator: a wrong key is refused, TCP on
 * loopback works, READY=1 waits for the channel.
 *
 * wgsync-ldap end to end: the role runs as a subprocess with exactly its
 * permissions (plus the test's directories) against the shared local stack
 * (real slapd with syncprov, StartTLS + SASL/GSSAPI through the k5start
 * ticket cache, MIT Kerberos), changes are made with ldap-utils, and a real
 * ChannelServer (the Event Generator's end of the channel) receives the
 * events. Each test follows its own container entry of the directory.
 *
 * Needs: --allow-run (deno, ldapadd, ldapmodify, ldapmodrdn, ldapdelete,
 * ldapsearch, kill), --allow-read, --allow-write=/tmp, --allow-net
 * (127.0.0.1 and unix sockets), --allow-env.
 */

import assert from "node:assert/strict";
import { writeKey } from "./helpers/channel.ts";
import { DatagramListener } from "./helpers/datagram_listener.ts";
import { container } from "./helpers/ldap_admin.ts";
import {
  hasLine,
  Receiver,
  RoleProcess,
  stemOf,
  until,
  withTempDir,
  writeRoleConfig,
} from "./helpers/ldap_role.ts";
import { getStack } from "./helpers/stack.ts";

Deno.test("wgsync-ldap with a wrong channel key is refused, sends nothing, never reports READY=1 and never logs the key", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const { base } = await container(stack, 1);
    const files = await writeRoleConfig(stack, dir, { base });
    const other = await writeKey(dir, "other.key");
    const receiver = await Receiver.listen(files.socket, other.path);
    const notify = new DatagramListener(`${dir}/notify`);
    const role = RoleProcess.start(stack, files, {
      notifySocket: `${dir}/notify`,
    });
    try {
      await role.waitForLog(/authentication failed/);
      await role.waitForLog(
        /Workgroup refresh complete \(\w+ phase\): 1 workgroups/,
      );
      await until(() => receiver.stats.refused >= 1, "a refused connection");
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.equal(receiver.events.length, 0);
      assert.equal(receiver.stats.authenticated, 0);
      assert.ok(!notify.messages.some(hasLine("READY=1")));
      assert.ok(
        notify.messages.some((m) =>
          /STATUS=first refresh done; waiting for the channel/.test(m)
        ),
        JSON.stringify(notify.messages),
      );
      assert.equal(await role.stop(), 0, role.stderr);
      const key = (await Deno.readTextFile(files.keyFile)).trim();
      assert.ok(!role.stderr.includes(key), "the auth key was logged");
      assert.ok(!role.stderr.includes(other.text), "the other key was logged");
    } finally {
      await role.kill();
      await receiver.close();
      await notify.close();
    }
  });
});

Deno.test("wgsync-ldap sends over TCP on loopback when the channel is configured with tcp", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const { base } = await container(stack, 2);
    const stem = stemOf(base);
    const key = await writeKey(dir, "tcp.key");
    const receiver = await Receiver.listen(
      { transport: "tcp", hostname: "127.0.0.1", port: 0 },
      key.path,
    );
    const address = receiver.address;
    assert.ok(address.transport === "tcp");
    const files = await writeRoleConfig(stack, dir, {
      base,
      tcp: `127.0.0.1:${address.port}`,
      connections: 2,
    });
    // The receiver's key goes where the configuration names the key file.
    await Deno.copyFile(key.path, files.keyFile);
    const role = RoleProcess.start(stack, files);
    try {
      await role.waitForLog(/Ready: running; 2 workgroups, .*channel 2\/2 up/);
      await until(() => receiver.events.length >= 2, "2 created events");
      assert.deepEqual(
        receiver.events.map((e) => `${e.type} ${e.workgroup}`).sort(),
        [`workgroup.created ${stem}:g0`, `workgroup.created ${stem}:g1`],
      );
      assert.equal(await role.stop(), 0, role.stderr);
    } finally {
      await role.kill();
      await receiver.close();
    }
  });
});

Deno.test("wgsync-ldap reports READY=1 only once the channel is up, then delivers what the refresh produced", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const { base } = await container(stack, 2);
    const files = await writeRoleConfig(stack, dir, { base });
    const notify = new DatagramListener(`${dir}/notify`);
    const role = RoleProcess.start(stack, files, {
      notifySocket: `${dir}/notify`,
    });
    let receiver: Receiver | undefined;
    try {
      // Nothing listens on the channel socket yet.
      await role.waitForLog(/Workgroup refresh complete/);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.ok(!notify.messages.some(hasLine("READY=1")));
      assert.ok(
        notify.messages.some((m) =>
          /^STATUS=first refresh done; waiting for the channel; 2 workgroups, outbox 2,/
            .test(m)
        ),
        JSON.stringify(notify.messages),
      );
      receiver = await Receiver.listen(files.socket, files.keyFile);
      await until(
        () => notify.messages.some(hasLine("READY=1")),
        () => `READY=1; got ${JSON.stringify(notify.messages)}`,
      );
      await until(() => receiver!.events.length >= 2, "2 created events");
      assert.equal(await role.stop(), 0, role.stderr);
    } finally {
      await role.kill();
      await receiver?.close();
      await notify.close();
    }
  });
});
