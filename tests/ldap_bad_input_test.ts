/**
 * Bad input from the server: malformed BER, unknown controls, oversized and
 * truncated messages, non-UTF-8 values, missing controls, a Notice of
 * Disconnection. Each gives a clear error and the connection is reset.
 *
 * The server here is a scripted FAKE (tests/helpers/scripted_ldap_server.ts):
 * no real server sends broken BER on demand. Every other test of the client
 * runs against the real slapd of the local stack.
 *
 * Needs: --allow-net=127.0.0.1.
 */

import assert from "node:assert/strict";
import {
  LdapConnectionError,
  LdapProtocolError,
  openSession,
  parseLdapUrl,
  type SyncMessage,
  SyncSearch,
} from "../lib/ldap/mod.ts";
import { ScriptedLdapServer } from "./helpers/scripted_ldap_server.ts";
import {
  concat,
  control,
  extendedResponse,
  int,
  length,
  message,
  searchDone,
  searchEntry,
  syncDone,
  syncInfo,
  syncState,
  tlv,
  uuidBytes,
  uuidString,
} from "./helpers/ldap_ber.ts";
import { BASE, group, respond } from "./helpers/scripted_sync.ts";

/** Runs one refreshOnly sync search on the scripted server and collects what it yields or throws. */
async function searchOnce(
  server: ScriptedLdapServer,
  options: { maxPduSize?: number } = {},
): Promise<{ messages: SyncMessage[]; error?: unknown; closed: boolean }> {
  const session = await openSession(parseLdapUrl(server.url), {
    bind: { method: "anonymous" },
    maxPduSize: options.maxPduSize,
  });
  const messages: SyncMessage[] = [];
  try {
    const search = await SyncSearch.start(session.connection, {
      baseDN: BASE,
      mode: "refreshOnly",
    });
    for await (const m of search) messages.push(m);
    return { messages, closed: session.connection.closed };
  } catch (error) {
    return { messages, error, closed: session.connection.closed };
  } finally {
    session.connection.close();
  }
}

Deno.test("sync client rejects malformed BER in an entry with a protocol error and closes the connection", async () => {
  const server = new ScriptedLdapServer([
    respond((id) => {
      const good = group(id, 1);
      // The attribute list claims 0x7f bytes inside an entry that is shorter.
      const broken = message(
        id,
        tlv(
          0x64,
          tlv(0x04, `cn=broken,${BASE}`),
          new Uint8Array([0x30, 0x7f, 0x04, 0x00]),
        ),
        [syncState(1, uuidBytes(2))],
      );
      return [good, broken, group(id, 3), searchDone(id, 0, [syncDone("c")])];
    }),
  ]);
  try {
    const { messages, error, closed } = await searchOnce(server);
    assert.deepEqual(messages.map((m) => m.kind === "entry" && m.dn), [
      `cn=g1,${BASE}`,
    ]);
    assert.ok(error instanceof LdapProtocolError, String(error));
    assert.match(
      error.message,
      /^Cannot decode the message from the LDAP server as the attribute list at offset \d+ is longer than the data that contains it: server is ldap:\/\/127\.0\.0\.1:\d+$/,
    );
    assert.equal(error.cause instanceof Error && error.cause.name, "BerError");
    assert.equal(closed, true);
    assert.deepEqual(server.errors, []);
  } finally {
    await server.close();
  }
});

Deno.test("sync client ignores unknown response controls, critical or not, and delivers the entry", async () => {
  const server = new ScriptedLdapServer([
    respond((id) => [
      searchEntry(id, `cn=g1,${BASE}`, { cn: ["g1"] }, [
        control("1.2.3.4.5", false, new Uint8Array([1, 2, 3])),
        syncState(1, uuidBytes(1)),
        control("1.2.3.4.6", true),
      ]),
      searchDone(id, 0, [syncDone("c1", true), control("1.2.3.4.7", false)]),
    ]),
  ]);
  try {
    const { messages, error } = await searchOnce(server);
    assert.equal(error, undefined);
    assert.deepEqual(messages, [
      {
        kind: "entry",
        state: "add",
        entryUUID: uuidString(1),
        dn: `cn=g1,${BASE}`,
        attributes: { cn: ["g1"] },
        cookie: undefined,
      },
      {
        kind: "refreshEnd",
        phase: "delete",
        refreshDone: true,
        refreshDeletes: true,
        cookie: new TextEncoder().encode("c1"),
      },
    ]);
  } finally {
    await server.close();
  }
});

Deno.test("sync client refuses a message larger than maxPduSize before reading it", async () => {
  const big = (id: number) =>
    searchEntry(id, `cn=big,${BASE}`, { member: ["x".repeat(5000)] }, [
      syncState(1, uuidBytes(1)),
    ]);
  // Only the first 8 bytes are sent: the limit is checked on the length field.
  const server = new ScriptedLdapServer([
    async (peer) => {
      const search = await peer.acceptBindAndSearch();
      await peer.send(big(search.messageId).subarray(0, 8));
      await peer.serveUntilClosed(search.messageId);
    },
  ]);
  try {
    const { error, closed } = await searchOnce(server, { maxPduSize: 4096 });
    assert.ok(error instanceof LdapProtocolError, String(error));
    assert.equal(
      error.message,
      `Cannot read the LDAP message as it is ${
        big(2).length
      } bytes long, more than the limit of 4096 bytes (option maxPduSize): server is ${server.url}`,
    );
    assert.equal(closed, true);
  } finally {
    await server.close();
  }
});

Deno.test("sync client rejects a value that is not UTF-8, naming the entry and the attribute", async () => {
  const server = new ScriptedLdapServer([
    respond((id) => [
      searchEntry(id, `cn=g1,${BASE}`, {
        cn: ["g1"],
        member: [new Uint8Array([0x75, 0x69, 0x64, 0x3d, 0xff, 0xfe])],
      }, [syncState(1, uuidBytes(1))]),
    ]),
  ]);
  try {
    const { error } = await searchOnce(server);
    assert.ok(error instanceof LdapProtocolError, String(error));
    assert.match(
      error.message,
      /a value of attribute "member" of entry "cn=g1,ou=workgroups,dc=example,dc=edu" is not valid UTF-8: an attribute value is not valid UTF-8 \(bytes 75 69 64 3d ff fe at offset \d+\)/,
    );
  } finally {
    await server.close();
  }
});

Deno.test("sync client reports a server that closes in the middle of a message", async () => {
  const server = new ScriptedLdapServer([
    async (peer) => {
      const search = await peer.acceptBindAndSearch();
      const entry = group(search.messageId, 1);
      await peer.send(entry.subarray(0, 20));
      peer.close();
    },
  ]);
  try {
    const { error } = await searchOnce(server);
    assert.ok(error instanceof LdapConnectionError, String(error));
    assert.match(
      error.message,
      /^Cannot read from the LDAP server as it closed the connection in the middle of a message \(received 20 of \d+ bytes\): server is /,
    );
  } finally {
    await server.close();
  }
});

Deno.test("sync client rejects an entry without a Sync State Control and a syncUUID that is not 16 bytes", async () => {
  const server = new ScriptedLdapServer([
    respond((id) => [searchEntry(id, `cn=g1,${BASE}`, { cn: ["g1"] }, [])]),
    respond((id) => [
      searchEntry(id, `cn=g1,${BASE}`, { cn: ["g1"] }, [
        syncState(1, uuidBytes(1).subarray(0, 15)),
      ]),
    ]),
  ]);
  try {
    const missing = await searchOnce(server);
    assert.ok(missing.error instanceof LdapProtocolError);
    assert.equal(
      missing.error.message,
      `Cannot use the entry "cn=g1,${BASE}" as it carries no Sync State Control: server is ${server.url}`,
    );
    const short = await searchOnce(server);
    assert.ok(short.error instanceof LdapProtocolError);
    assert.match(
      short.error.message,
      /^Cannot decode the Sync State Control of entry "cn=g1,.*" as a syncUUID is 15 bytes long \(expected 16\)/,
    );
  } finally {
    await server.close();
  }
});

Deno.test("sync client rejects bytes that are not an LDAP message and an unknown Sync Info choice", async () => {
  const server = new ScriptedLdapServer([
    respond(
      () => [
        concat(new Uint8Array([0x31]), length(3), new Uint8Array([1, 2, 3])),
      ],
    ),
    respond(() => [new Uint8Array([0x30, 0x80, 0x02, 0x01, 0x02, 0x00, 0x00])]),
    respond((id) => [syncInfo(id, tlv(0xa7, int(1)))]),
  ]);
  try {
    const wrongTag = await searchOnce(server);
    assert.match(
      String(wrongTag.error),
      /LdapProtocolError: Cannot read the LDAP message as it does not start with a SEQUENCE \(tag 0x30\) but with tag 0x31/,
    );
    const indefinite = await searchOnce(server);
    assert.match(String(indefinite.error), /uses the indefinite form/);
    const info = await searchOnce(server);
    assert.match(
      String(info.error),
      /Cannot decode the Sync Info Message as the syncInfoValue has tag 0xa7 \(expected newcookie 0x80/,
    );
  } finally {
    await server.close();
  }
});

Deno.test("sync client turns a Notice of Disconnection into a connection error carrying the server's reason", async () => {
  const server = new ScriptedLdapServer([
    respond(() => [
      extendedResponse(0, 52, "1.3.6.1.4.1.1466.20036", "server shutting down"),
    ]),
  ]);
  try {
    const { error, closed } = await searchOnce(server);
    assert.ok(error instanceof LdapConnectionError, String(error));
    assert.match(
      error.message,
      /sent a Notice of Disconnection \(result code 52: server shutting down\)/,
    );
    assert.equal(closed, true);
  } finally {
    await server.close();
  }
});
