/**
 * TLS connections of the LDAP client against the real slapd of the shared
 * local stack: StartTLS with the stack's CA, a certificate of another CA and a
 * missing CA file refused, ldaps:// through a TLS terminator.
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
  LdapConnectionError,
  openSession,
  parseLdapUrl,
  SyncClient,
  type SyncMessage,
  SyncSearch,
} from "../lib/ldap/mod.ts";
import { getKerberosStack as setup, type StackInfo } from "./helpers/stack.ts";

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
