/**
 * The mapping from wgsync.toml's [ldap] and [channel] sections to the
 * consumer's library options, and its STATUS= line. Pure functions; the
 * configuration is parsed by the real schema.
 *
 * Needs no permissions.
 */

import assert from "node:assert/strict";
import { parseConfig } from "../lib/config/mod.ts";
import {
  channelAddress,
  formerStoreIdentities,
  peopleSearch,
  statusLine,
  storeIdentity,
  storePath,
  syncClientOptions,
  workgroupSearch,
} from "../lib/wgsync_ldap/mod.ts";

const TOML = `
[ldap]
url = "ldap://ldap.example.edu"
start_tls = true
ca_file = "/etc/wgsync/ca.pem"
data_dir = "/var/lib/wgsync/"
[ldap.bind]
method = "gssapi"
ccache = "/run/wgsync-ldap/ccache"
sasl_host = "ldap.example.edu"
[ldap.workgroups]
base = "ou=workgroups,dc=example,dc=edu"
[ldap.people]
base = "ou=people,dc=example,dc=edu"
id_attribute = "suRegID"
[channel]
tcp = "127.0.0.1:9999"
auth_key_file = "/etc/wgsync/channel.key"
`;

function config(text = TOML) {
  return parseConfig(text, "test.toml");
}

Deno.test("consumer settings map [ldap] onto the sync client options, entryCSN requested", () => {
  const ldap = config().ldap!;
  const options = syncClientOptions(ldap, {
    ...workgroupSearch(ldap),
    cookie: () => undefined,
  });
  assert.equal(options.url, "ldap://ldap.example.edu");
  assert.equal(options.startTls, true);
  assert.equal(options.caFile, "/etc/wgsync/ca.pem");
  assert.equal(options.connectTimeout, 10_000);
  assert.equal(options.operationTimeout, 60_000);
  assert.equal(options.mode, "refreshAndPersist");
  assert.deepEqual(options.bind, {
    method: "gssapi",
    ccache: "/run/wgsync-ldap/ccache",
    saslHost: "ldap.example.edu",
    layers: ["confidentiality", "integrity", "none"],
  });
  assert.equal(options.baseDN, "ou=workgroups,dc=example,dc=edu");
  assert.equal(options.filter, "(objectClass=groupOfNames)");
  assert.deepEqual(options.attributes, ["cn", "member", "entryCSN"]);
  assert.deepEqual(peopleSearch(ldap)?.attributes, ["uid", "suRegID"]);
  assert.equal(storePath(ldap), "/var/lib/wgsync/store.sqlite");
});

Deno.test("consumer store identity changes with the search or who binds, not with the server URL nor the ticket cache's path", () => {
  const who = { method: "gssapi", principal: "service/wgsync-ldap@EDU" };
  const base = storeIdentity(config().ldap!, who);
  const otherUrl = storeIdentity(
    config(
      TOML.replace("ldap://ldap.example.edu", "ldap://replica.example.edu"),
    )
      .ldap!,
    who,
  );
  assert.deepEqual(otherUrl, base);
  const otherBase = storeIdentity(
    config(TOML.replace("ou=workgroups,", "ou=groups,")).ldap!,
    who,
  );
  assert.notDeepEqual(otherBase, base);
  const otherCache = storeIdentity(
    config(TOML.replace("/run/wgsync-ldap/ccache", "/run/other/ccache")).ldap!,
    who,
  );
  assert.deepEqual(otherCache, base);
  const otherPrincipal = storeIdentity(config().ldap!, {
    ...who,
    principal: "other@EDU",
  });
  assert.notDeepEqual(otherPrincipal, base);
});

Deno.test("consumer store identity of earlier versions (the ticket cache's path) is recognised for the path configured now", () => {
  const ldap = config().ldap!;
  assert.deepEqual(formerStoreIdentities(ldap), [{
    workgroups: ldap.workgroups,
    people: ldap.people,
    bind: { method: "gssapi", ccache: "/run/wgsync-ldap/ccache" },
  }]);
});

Deno.test("consumer channel address comes from socket or tcp", () => {
  assert.deepEqual(channelAddress(config().channel!), {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 9999,
  });
  const unix = config(
    TOML.replace('tcp = "127.0.0.1:9999"', 'socket = "/run/wgsync/event.sock"'),
  );
  assert.deepEqual(channelAddress(unix.channel!), {
    transport: "unix",
    path: "/run/wgsync/event.sock",
  });
});

Deno.test("consumer STATUS= line shows workgroups, outbox depth, seconds since the last change and the channel", () => {
  const now = 1_000_000;
  assert.equal(
    statusLine({
      state: "running",
      workgroups: 20,
      outbox: 3,
      lastChange: now - 12_400,
      channel: { up: 3, of: 4 },
    }, now),
    "running; 20 workgroups, outbox 3, last change 12 s ago, channel 3/4 up",
  );
  assert.equal(
    statusLine({ state: "starting", workgroups: 0, outbox: 0 }, now),
    "starting; 0 workgroups, outbox 0, no change since start",
  );
});

const SIMPLE = `
[ldap]
url = "ldap://ldap.example.edu"
data_dir = "/var/lib/wgsync"
[ldap.bind]
method = "simple"
dn = "cn=wgsync,dc=example,dc=edu"
password_file = "/etc/wgsync/ldap.password"
[ldap.workgroups]
base = "ou=workgroups,dc=example,dc=edu"
`;

Deno.test("a simple bind over cleartext LDAP is refused, naming the key, unless TLS or allow_cleartext_password = true", () => {
  assert.throws(() => config(SIMPLE), {
    name: "ConfigError",
    message:
      'Cannot use the configuration file "test.toml": key "ldap.bind.allow_cleartext_password" is false, and a simple bind to ldap://ldap.example.edu would send the password in clear: use an ldaps:// url or start_tls = true, or set allow_cleartext_password = true in [ldap.bind]',
  });
  for (
    const accepted of [
      SIMPLE.replace("ldap://", "ldaps://"),
      SIMPLE.replace('data_dir = "', 'start_tls = true\ndata_dir = "'),
      SIMPLE.replace(
        "[ldap.workgroups]",
        "allow_cleartext_password = true\n[ldap.workgroups]",
      ),
    ]
  ) {
    assert.equal(config(accepted).ldap!.bind.method, "simple");
  }
});
