/**
 * Connections and binds of the LDAP client against the real slapd and KDC of
 * the shared local stack: simple bind from a password file, anonymous bind,
 * StartTLS with the stack's CA, SASL GSSAPI with each security layer (and
 * none over TLS), and the errors when something is wrong.
 *
 * Needs: --allow-run (the stack), --allow-net=127.0.0.1,localhost,
 * --allow-read and --allow-write (temporary directories, the stack's files),
 * --allow-env (KRB5_CONFIG, KRB5CCNAME, WGSYNC_KEEP_STACK), --allow-ffi
 * (libgssapi_krb5).
 */

import assert from "node:assert/strict";
import {
  type BindOptions,
  closeSession,
  LdapBindError,
  LdapConnectionError,
  LdapResultError,
  openSession,
  parseLdapUrl,
  SyncClient,
  type SyncMessage,
  SyncSearch,
} from "../lib/ldap/mod.ts";
import { getStack, type StackInfo } from "./helpers/stack.ts";

async function setup(): Promise<StackInfo> {
  const stack = await getStack();
  Deno.env.set("KRB5_CONFIG", stack.krb5Config);
  return stack;
}

/** Runs a refreshOnly sync of the workgroups; returns the entries and members seen. */
async function refreshWorkgroups(
  stack: StackInfo,
  options: { url: string; bind: BindOptions; startTls?: boolean },
): Promise<{ entries: number; members: number }> {
  const client = new SyncClient({
    ...options,
    caFile: options.startTls ? stack.ldap.caFile : undefined,
    baseDN: stack.ldap.workgroupBase,
    scope: "one",
    attributes: ["cn", "member"],
    mode: "refreshOnly",
    reconnect: { maxAttempts: 1 },
  });
  let entries = 0;
  let members = 0;
  for await (const message of client.sync()) {
    if (message.kind !== "entry") continue;
    entries++;
    members += message.attributes.member.length;
  }
  await client.close();
  return { entries, members };
}

Deno.test("LDAP simple bind reads the password from a file and syncs", async () => {
  const stack = await setup();
  const result = await refreshWorkgroups(stack, {
    url: stack.ldap.url,
    bind: {
      method: "simple",
      dn: stack.ldap.adminDn,
      passwordFile: stack.ldap.adminPasswordFile,
    },
  });
  assert.deepEqual(result, {
    entries: stack.data.workgroups,
    members: stack.data.memberValues,
  });
});

Deno.test("LDAP simple bind with a wrong password fails naming the DN and result code 49", async () => {
  const stack = await setup();
  const dir = await Deno.makeTempDir();
  try {
    const passwordFile = `${dir}/password`;
    await Deno.writeTextFile(passwordFile, "not-the-password\n", {
      mode: 0o600,
    });
    try {
      await openSession(parseLdapUrl(stack.ldap.url), {
        bind: { method: "simple", dn: stack.ldap.adminDn, passwordFile },
      });
      assert.fail("the bind succeeded");
    } catch (caught) {
      assert.ok(caught instanceof LdapBindError);
      assert.match(caught.message, new RegExp(`as "${stack.ldap.adminDn}"`));
      assert.match(caught.message, /result code 49/);
      assert.ok(caught.cause instanceof LdapResultError);
      assert.equal(caught.cause.resultCode, 49);
      assert.ok(!caught.message.includes("not-the-password"));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LDAP simple bind with a missing, empty or group-readable password file names the path", async () => {
  const stack = await setup();
  const dir = await Deno.makeTempDir();
  try {
    const url = parseLdapUrl(stack.ldap.url);
    const missing = `${dir}/missing`;
    await assert.rejects(
      openSession(url, {
        bind: {
          method: "simple",
          dn: stack.ldap.adminDn,
          passwordFile: missing,
        },
      }),
      (error: Error) =>
        error instanceof LdapBindError &&
        error.message ===
          `Cannot bind to LDAP as the password file is missing: path is "${missing}"`,
    );
    const empty = `${dir}/empty`;
    await Deno.writeTextFile(empty, "\n", { mode: 0o600 });
    await assert.rejects(
      openSession(url, {
        bind: { method: "simple", dn: stack.ldap.adminDn, passwordFile: empty },
      }),
      /password file is empty: path is/,
    );
    const loose = `${dir}/loose`;
    await Deno.writeTextFile(loose, "secret\n", { mode: 0o644 });
    await Deno.chmod(loose, 0o644);
    await assert.rejects(
      openSession(url, {
        bind: { method: "simple", dn: stack.ldap.adminDn, passwordFile: loose },
      }),
      (error: Error) =>
        error instanceof LdapBindError &&
        error.message ===
          `Cannot bind to LDAP as the password file is open to group or others: path is "${loose}", mode is 0644, expected 0600 or tighter`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LDAP anonymous bind succeeds and sees only what the ACLs grant anonymous users", async () => {
  const stack = await setup();
  const session = await openSession(parseLdapUrl(stack.ldap.url), {
    bind: { method: "anonymous" },
  });
  try {
    assert.deepEqual(session.bind, {
      method: "anonymous",
      identity: "",
      layer: "none",
    });
    const search = await SyncSearch.start(session.connection, {
      baseDN: stack.ldap.workgroupBase,
      mode: "refreshOnly",
    });
    // The stack's ACL gives anonymous users nothing: slapd hides the base entry.
    await assert.rejects(
      search.next(),
      (error: Error) =>
        error instanceof LdapResultError && error.resultCode === 32,
    );
  } finally {
    await closeSession(session.connection);
  }
});

Deno.test("LDAP StartTLS with the stack's CA carries a bind and a sync", async () => {
  const stack = await setup();
  const session = await openSession(parseLdapUrl(stack.ldap.gssapiUrl), {
    startTls: true,
    caFile: stack.ldap.caFile,
    bind: {
      method: "simple",
      dn: stack.ldap.adminDn,
      passwordFile: stack.ldap.adminPasswordFile,
    },
  });
  try {
    assert.equal(session.connection.tls, true);
    const search = await SyncSearch.start(session.connection, {
      baseDN: stack.ldap.workgroupBase,
      scope: "one",
      mode: "refreshOnly",
    });
    const messages: SyncMessage[] = [];
    for await (const message of search) messages.push(message);
    assert.equal(
      messages.filter((m) => m.kind === "entry").length,
      stack.data.workgroups,
    );
  } finally {
    await closeSession(session.connection);
  }
});

Deno.test("LDAP StartTLS refuses a server certificate from another CA and names a missing CA file", async () => {
  const stack = await setup();
  const dir = await Deno.makeTempDir();
  try {
    // A CA of our own that did not sign slapd's certificate.
    const ca = `${dir}/other-ca.pem`;
    const openssl = await new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        `${dir}/other-ca.key`,
        "-out",
        ca,
        "-days",
        "1",
        "-subj",
        "/CN=other CA",
      ],
      stdout: "null",
      stderr: "null",
    }).output();
    assert.ok(openssl.success);
    const bind: BindOptions = { method: "anonymous" };
    const url = parseLdapUrl(stack.ldap.gssapiUrl);
    await assert.rejects(
      openSession(url, { startTls: true, caFile: ca, bind }),
      (error: Error) =>
        error instanceof LdapConnectionError &&
        /Cannot start TLS with the LDAP server as the handshake failed/.test(
          error.message,
        ) &&
        error.message.includes(`localhost:${stack.ldap.port}`),
    );
    const missing = `${dir}/missing.pem`;
    await assert.rejects(
      openSession(url, { startTls: true, caFile: missing, bind }),
      (error: Error) =>
        error.message ===
          `Cannot connect to LDAP with TLS as the CA file is missing: path is "${missing}"`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (const layer of ["none", "integrity", "confidentiality"] as const) {
  Deno.test(`LDAP SASL GSSAPI bind with the ${layer} layer carries a whole refresh`, async () => {
    const stack = await setup();
    const bind: BindOptions = {
      method: "gssapi",
      ccache: stack.ccaches.ldapClient,
      layers: [layer],
    };
    const session = await openSession(parseLdapUrl(stack.ldap.gssapiUrl), {
      bind,
    });
    try {
      assert.deepEqual(session.bind, {
        method: "gssapi",
        identity: stack.principals.ldapClient,
        layer,
      });
      assert.equal(session.connection.saslLayerActive, layer !== "none");
    } finally {
      await closeSession(session.connection);
    }
    // The largest workgroup's entry spans several SASL buffers.
    const result = await refreshWorkgroups(stack, {
      url: stack.ldap.gssapiUrl,
      bind,
    });
    assert.deepEqual(result, {
      entries: stack.data.workgroups,
      members: stack.data.memberValues,
    });
  });
}

Deno.test("LDAP SASL GSSAPI bind chooses the strongest layer by default and none over StartTLS", async () => {
  const stack = await setup();
  const bind: BindOptions = {
    method: "gssapi",
    ccache: stack.ccaches.ldapClient,
  };
  const url = parseLdapUrl(stack.ldap.gssapiUrl);
  const plain = await openSession(url, { bind });
  assert.equal(plain.bind.layer, "confidentiality");
  await closeSession(plain.connection);
  const tls = await openSession(url, {
    startTls: true,
    caFile: stack.ldap.caFile,
    bind,
  });
  assert.equal(tls.bind.layer, "none");
  assert.equal(tls.connection.saslLayerActive, false);
  await closeSession(tls.connection);
  const result = await refreshWorkgroups(stack, {
    url: stack.ldap.gssapiUrl,
    bind,
    startTls: true,
  });
  assert.equal(result.entries, stack.data.workgroups);
});

Deno.test("LDAP SASL GSSAPI bind with an empty ticket cache fails naming the service and the cache", async () => {
  const stack = await setup();
  const dir = await Deno.makeTempDir();
  try {
    const ccache = `${dir}/empty-ccache`;
    await Deno.writeFile(ccache, new Uint8Array(), { mode: 0o600 });
    await assert.rejects(
      openSession(parseLdapUrl(stack.ldap.gssapiUrl), {
        bind: { method: "gssapi", ccache },
      }),
      (error: Error) =>
        error instanceof LdapBindError &&
        error.message.includes("ldap/localhost") &&
        error.message.includes(ccache) &&
        error.cause instanceof Error,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LDAP SASL GSSAPI bind to an unknown service principal names the client principal and the GSS error", async () => {
  const stack = await setup();
  await assert.rejects(
    openSession(parseLdapUrl(stack.ldap.gssapiUrl), {
      bind: {
        method: "gssapi",
        ccache: stack.ccaches.ldapClient,
        saslHost: "no-such-host",
      },
    }),
    (error: Error) =>
      error instanceof LdapBindError &&
      error.message.startsWith(
        "Cannot bind to LDAP with SASL GSSAPI as ldap/no-such-host (",
      ) &&
      error.message.includes(stack.principals.ldapClient) &&
      /not found in Kerberos database/.test(error.message),
  );
});

/**
 * Terminates TLS with slapd's own certificate and key (files of the stack's
 * layout, beside its CA) and forwards the plaintext to slapd: the stack's
 * slapd only listens on ldap://, this gives the client a real ldaps:// peer.
 */
function tlsTerminator(
  stack: StackInfo,
): { url: string; close(): Promise<void> } {
  const dir = stack.ldap.caFile.slice(0, stack.ldap.caFile.lastIndexOf("/"));
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: Deno.readTextFileSync(`${dir}/server.crt`),
    key: Deno.readTextFileSync(`${dir}/server.key`),
  });
  const conns: Deno.Conn[] = [];
  const tasks: Promise<unknown>[] = [];
  const accepting = (async () => {
    try {
      for await (const client of listener) {
        const server = await Deno.connect({
          hostname: "127.0.0.1",
          port: stack.ldap.port,
        });
        conns.push(client, server);
        const pipe = (from: Deno.Conn, to: Deno.Conn) =>
          from.readable.pipeTo(to.writable).catch(() => {});
        tasks.push(pipe(client, server), pipe(server, client));
      }
    } catch {
      // The listener was closed.
    }
  })();
  return {
    url: `ldaps://localhost:${listener.addr.port}`,
    close: async () => {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Closed by the pipe already.
        }
      }
      await Promise.allSettled([accepting, ...tasks]);
    },
  };
}

Deno.test("LDAP over ldaps:// verifies the server with the CA file and carries a sync", async () => {
  const stack = await setup();
  const terminator = tlsTerminator(stack);
  try {
    const bind: BindOptions = {
      method: "simple",
      dn: stack.ldap.adminDn,
      passwordFile: stack.ldap.adminPasswordFile,
    };
    const session = await openSession(parseLdapUrl(terminator.url), {
      caFile: stack.ldap.caFile,
      bind,
    });
    assert.equal(session.connection.tls, true);
    await closeSession(session.connection);
    const client = new SyncClient({
      url: terminator.url,
      caFile: stack.ldap.caFile,
      bind,
      baseDN: stack.ldap.workgroupBase,
      scope: "one",
      mode: "refreshOnly",
      reconnect: { maxAttempts: 1 },
    });
    let entries = 0;
    for await (const message of client.sync()) {
      if (message.kind === "entry") entries++;
    }
    assert.equal(entries, stack.data.workgroups);
    // Without the CA the system roots do not trust the stack's certificate.
    await assert.rejects(
      openSession(parseLdapUrl(terminator.url), { bind }),
      /Cannot start TLS with the LDAP server as the handshake failed/,
    );
  } finally {
    await terminator.close();
  }
});
