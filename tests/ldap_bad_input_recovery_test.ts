/**
 * After bad input from the server the resilient client resumes from the
 * confirmed cookie and loses no message, and gives up after maxAttempts
 * failures in a row with the last error.
 *
 * The server here is a scripted FAKE (tests/helpers/scripted_ldap_server.ts):
 * no real server sends broken BER on demand. Every other test of the client
 * runs against the real slapd of the local stack.
 *
 * Needs: --allow-net=127.0.0.1.
 */

import assert from "node:assert/strict";
import {
  type LdapError,
  LdapProtocolError,
  SyncClient,
  type SyncClientOptions,
} from "../lib/ldap/mod.ts";
import {
  ScriptedLdapServer,
  type ScriptedPeer,
} from "./helpers/scripted_ldap_server.ts";
import { message, refreshInfo, syncInfo } from "./helpers/ldap_ber.ts";
import { BASE, group, respond } from "./helpers/scripted_sync.ts";

const decoder = new TextDecoder();

Deno.test("sync client resumes from the confirmed cookie after bad input and loses no message", async () => {
  let second: ScriptedPeer | undefined;
  const server = new ScriptedLdapServer([
    respond((id) => [
      group(id, 1),
      syncInfo(id, refreshInfo(0xa1, "cookie-1")),
      group(id, 2, "cookie-2"),
      // A truncated SearchResultEntry: valid framing, garbage inside.
      message(id, new Uint8Array([0x64, 0x03, 0x04, 0x05, 0x41])),
      group(id, 3, "cookie-3"),
    ]),
    async (peer) => {
      second = peer;
      const search = await peer.acceptBindAndSearch();
      await peer.send(
        group(search.messageId, 3, "cookie-3"),
        group(search.messageId, 4, "cookie-4"),
      );
      await peer.serveUntilClosed(search.messageId);
    },
  ]);
  const retries: LdapError[] = [];
  const client = new SyncClient({
    url: server.url,
    bind: { method: "anonymous" },
    baseDN: BASE,
    reconnect: { minDelay: 5, maxDelay: 20 },
    onRetry: (error) => retries.push(error),
  });
  const seen: string[] = [];
  try {
    for await (const m of client.sync()) {
      const cookie = m.cookie ? decoder.decode(m.cookie) : "";
      seen.push(
        m.kind === "entry"
          ? `${m.dn.split(",")[0]} ${cookie}`
          : `${m.kind} ${cookie}`,
      );
      if (m.kind === "start" && m.reason === "reconnect") {
        assert.equal(decoder.decode(m.resumeCookie), "cookie-2");
      }
      // The caller confirms what it processed (here: everything it saw).
      if (m.cookie) client.confirm(m.cookie);
      if (m.kind === "entry" && m.dn.startsWith("cn=g4")) break;
    }
    assert.deepEqual(seen, [
      "start ",
      "cn=g1 ",
      "refreshEnd cookie-1",
      "cn=g2 cookie-2",
      "start ",
      "cn=g3 cookie-3",
      "cn=g4 cookie-4",
    ]);
    assert.equal(retries.length, 1);
    assert.ok(retries[0] instanceof LdapProtocolError);
    assert.equal(decoder.decode(second?.requests[1].sync?.cookie), "cookie-2");
    assert.equal(second?.requests[1].sync?.mode, 3);
    // Leaving the loop cancelled the search and unbound.
    await server.settled();
    assert.deepEqual(
      second?.requests.map((r) => r.tag),
      [0x60, 0x63, 0x77, 0x42],
    );
    assert.deepEqual(server.errors, []);
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("sync client gives up after maxAttempts failures in a row with the last error", async () => {
  const server = new ScriptedLdapServer([
    respond((id) => [message(id, new Uint8Array([0x64, 0x00]))]),
  ]);
  const options: SyncClientOptions = {
    url: server.url,
    bind: { method: "anonymous" },
    baseDN: BASE,
    reconnect: { minDelay: 1, maxDelay: 2, maxAttempts: 3 },
  };
  const client = new SyncClient(options);
  const kinds: string[] = [];
  try {
    await assert.rejects(
      (async () => {
        for await (const m of client.sync()) kinds.push(m.kind);
      })(),
      LdapProtocolError,
    );
    assert.deepEqual(kinds, ["start", "start", "start"]);
    assert.equal(server.peers.length, 3);
  } finally {
    await client.close();
    await server.close();
  }
});
