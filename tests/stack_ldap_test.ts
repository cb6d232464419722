/**
 * The local stack's MIT KDC, k5start tickets and slapd against their real
 * parts: GSSAPI binds with and without a security layer, a refreshOnly sync
 * search, StartTLS with the generated CA.
 */

import assert from "node:assert/strict";
import { Client } from "ldapts";
import { getStack } from "./helpers/stack.ts";
import {
  gssapiEnv,
  run,
  syncWorkgroups,
  whoamiGssapi,
} from "./helpers/stack_check.ts";

Deno.test("the consumer principal binds to slapd with GSSAPI, with and without a security layer", async () => {
  const stack = await getStack();
  const expected = `dn:${stack.ldap.consumerDn}`;
  const layered = await whoamiGssapi(stack);
  assert.equal(layered.code, 0, layered.stderr);
  assert.equal(layered.stdout.trim(), expected);
  assert.match(layered.stderr, /SASL SSF: (56|128|256)/);
  const plain = await whoamiGssapi(stack, 0);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(plain.stdout.trim(), expected);
  assert.match(plain.stderr, /SASL SSF: 0/);
});

Deno.test("a GSSAPI bind without a ticket cache is refused", async () => {
  const stack = await getStack();
  const result = await run(
    ["ldapwhoami", "-Y", "GSSAPI", "-N", "-H", stack.ldap.gssapiUrl],
    { ...gssapiEnv(stack), KRB5CCNAME: `FILE:${stack.dir}/no-such-ccache` },
  );
  assert.notEqual(result.code, 0);
});

Deno.test("a refreshOnly sync search returns every sample workgroup and a cookie", async () => {
  const stack = await getStack();
  const { names, cookie } = await syncWorkgroups(stack);
  assert.equal(names.length, stack.data.workgroups);
  assert.equal(new Set(names).size, names.length);
  for (const name of names) {
    assert.match(name, /^[a-z-]+:[a-z0-9-]+$/, `workgroup name "${name}"`);
    assert.ok(stack.data.stems.includes(name.split(":")[0]), name);
  }
  assert.ok(names.includes(stack.data.largestWorkgroup));
  assert.ok(cookie !== undefined, "no cookie in the SyncDone control");
  assert.match(cookie, /^rid=\d+,csn=\d{14}\.\d{6}Z#/);
});

Deno.test("StartTLS with the generated CA, then a simple bind as admin, reads the large and the non-ASCII workgroups", async () => {
  const stack = await getStack();
  const client = new Client({ url: stack.ldap.url });
  try {
    await client.startTLS({
      ca: [await Deno.readTextFile(stack.ldap.caFile)],
      servername: "localhost",
    });
    const password = await Deno.readTextFile(stack.ldap.adminPasswordFile);
    await client.bind(stack.ldap.adminDn, password);
    const largest = await client.search(stack.ldap.workgroupBase, {
      filter: `(cn=${stack.data.largestWorkgroup})`,
      attributes: ["member"],
    });
    assert.equal(largest.searchEntries.length, 1);
    const members = largest.searchEntries[0].member as string[];
    assert.equal(members.length, stack.data.largestWorkgroupMembers);
    assert.ok(members.length >= 3000);
    const person = await client.search(members[members.length - 1], {
      scope: "base",
      attributes: ["uid", "employeeNumber"],
    });
    assert.equal(person.searchEntries.length, 1);
    assert.match(String(person.searchEntries[0].employeeNumber), /^\d+$/);
    const special = await client.search(stack.ldap.workgroupBase, {
      filter: `(cn=${stack.data.nonAsciiWorkgroup})`,
      attributes: ["description"],
    });
    assert.equal(
      special.searchEntries[0].description,
      "Équipe de recherche — 研究",
    );
  } finally {
    await client.unbind();
  }
});

Deno.test("StartTLS refuses a client that does not trust the generated CA", async () => {
  const stack = await getStack();
  const result = await run(
    ["ldapwhoami", "-x", "-ZZ", "-H", stack.ldap.url],
    {
      LDAPTLS_CACERT: "/etc/ssl/certs/ca-certificates.crt",
      LDAPTLS_REQCERT: "demand",
    },
  );
  assert.notEqual(result.code, 0);
});
