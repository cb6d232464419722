/**
 * Validation of the LDAP client's options, URLs and reconnect backoff: bad
 * settings are refused up front with errors naming the option and the value.
 *
 * Needs no permissions.
 */

import assert from "node:assert/strict";
import {
  DEFAULT_BACKOFF,
  parseLdapUrl,
  SyncClient,
  type SyncClientOptions,
} from "../lib/ldap/mod.ts";
import { backoffDelay, resolveBackoff } from "../lib/backoff.ts";

interface ThrowsMatch {
  name: string;
  message: string;
}

/** What a bad option of `what` throws: a RangeError naming option and value. */
function rangeError(what: string, detail: string): ThrowsMatch {
  const option = detail.split(" ")[0];
  return {
    name: "RangeError",
    message: `Cannot use ${what} as ${option} is invalid: ${detail}`,
  };
}

const VALID: SyncClientOptions = {
  url: "ldap://127.0.0.1:389",
  bind: { method: "anonymous" },
  baseDN: "ou=workgroups,dc=example,dc=edu",
};

Deno.test("LDAP URL parsing accepts ldap and ldaps with default ports and IPv6 literals", () => {
  assert.deepEqual(parseLdapUrl("ldap://ldap.example.edu"), {
    scheme: "ldap",
    hostname: "ldap.example.edu",
    port: 389,
  });
  assert.deepEqual(parseLdapUrl("ldaps://ldap.example.edu/"), {
    scheme: "ldaps",
    hostname: "ldap.example.edu",
    port: 636,
  });
  assert.deepEqual(parseLdapUrl("ldap://[::1]:3389"), {
    scheme: "ldap",
    hostname: "::1",
    port: 3389,
  });
});

Deno.test("LDAP URL parsing refuses other schemes, user information and search parts", () => {
  for (
    const [url, reason] of [
      ["http://ldap.example.edu", "its scheme is not ldap or ldaps"],
      ["ldapi://%2Frun%2Fslapd", "its scheme is not ldap or ldaps"],
      ["ldap://user@ldap.example.edu", "it carries user information"],
      [
        "ldap://ldap.example.edu/dc=example,dc=edu?cn",
        "it has a DN, attributes or filter part",
      ],
      ["not a url", "it is not a URL"],
    ]
  ) {
    assert.throws(
      () => parseLdapUrl(url),
      (error: Error) =>
        error instanceof TypeError &&
        error.message.startsWith(`Cannot use the LDAP URL as ${reason}`) &&
        error.message.endsWith(`url is "${url}"`),
    );
  }
});

Deno.test("SyncClient refuses bad options up front, naming the option", () => {
  const cases: [Partial<SyncClientOptions>, RegExp | ThrowsMatch][] = [
    [{ url: "ldaps://h", startTls: true }, /StartTLS with an ldaps:\/\/ URL/],
    [
      { filter: "(cn=unbalanced" },
      /option filter as it is not valid RFC 4515 syntax: filter is "\(cn=unbalanced"/,
    ],
    [
      { maxPduSize: 100 },
      rangeError(
        "the LDAP options",
        "maxPduSize is 100, expected an integer of at least 1024",
      ),
    ],
    [
      { operationTimeout: -1 },
      rangeError(
        "the LDAP options",
        "operationTimeout is -1, expected a positive number",
      ),
    ],
    [
      { connectTimeout: NaN },
      rangeError(
        "the LDAP options",
        "connectTimeout is NaN, expected a positive number",
      ),
    ],
    [
      { scope: "children" as "sub" },
      rangeError(
        "the LDAP options",
        'scope is "children", expected "base", "one" or "sub"',
      ),
    ],
    [
      { mode: "persist" as "refreshOnly" },
      rangeError(
        "the LDAP options",
        'mode is "persist", expected "refreshOnly" or "refreshAndPersist"',
      ),
    ],
    [
      { attributes: ["cn", ""] },
      /attributes as it is not a list of attribute names/,
    ],
    [
      { cookie: "abc" as unknown as Uint8Array },
      /cookie as it is neither a Uint8Array nor a function/,
    ],
    [
      { bind: { method: "kerberos" } as unknown as SyncClientOptions["bind"] },
      /method is not anonymous, simple or gssapi: got "kerberos"/,
    ],
    [
      { bind: { method: "simple", dn: "", passwordFile: "/x" } },
      /dn is not a non-empty string/,
    ],
    [{ bind: { method: "gssapi", layers: [] } }, /layers is empty/],
    [
      { reconnect: { jitter: 2 } },
      rangeError(
        "the reconnect options",
        "jitter is 2, expected a number from 0 to 1",
      ),
    ],
    [
      { reconnect: { minDelay: 10, maxDelay: 5 } },
      rangeError(
        "the reconnect options",
        "maxDelay is 5, expected a number of at least 10",
      ),
    ],
    [
      { reconnect: { maxAttempts: 0 } },
      rangeError(
        "the reconnect options",
        "maxAttempts is 0, expected a positive integer or Infinity",
      ),
    ],
    [
      { reconnect: { multiplier: 0.5 } },
      rangeError(
        "the reconnect options",
        "multiplier is 0.5, expected a number of at least 1",
      ),
    ],
  ];
  for (const [change, message] of cases) {
    assert.throws(() => new SyncClient({ ...VALID, ...change }), message);
  }
  assert.ok(new SyncClient(VALID));
});

Deno.test("SyncClient confirm() keeps a copy and refuses when a cookie function is the source", () => {
  const client = new SyncClient({ ...VALID, cookie: new Uint8Array([1]) });
  assert.deepEqual(client.confirmedCookie, new Uint8Array([1]));
  const cookie = new Uint8Array([2, 3]);
  client.confirm(cookie);
  cookie[0] = 9;
  assert.deepEqual(client.confirmedCookie, new Uint8Array([2, 3]));

  let stored: Uint8Array | undefined = new Uint8Array([7]);
  const fromStore = new SyncClient({ ...VALID, cookie: () => stored });
  assert.deepEqual(fromStore.confirmedCookie, new Uint8Array([7]));
  stored = undefined;
  assert.equal(fromStore.confirmedCookie, undefined);
  assert.throws(
    () => fromStore.confirm(new Uint8Array([1])),
    /reads it from the cookie function/,
  );
});

Deno.test("reconnect backoff grows exponentially up to maxDelay, with jitter below the full delay", () => {
  assert.deepEqual(resolveBackoff(), DEFAULT_BACKOFF);
  const exact = resolveBackoff({ minDelay: 100, maxDelay: 1000, jitter: 0 });
  assert.deepEqual(
    [1, 2, 3, 4, 5, 10].map((attempt) => backoffDelay(exact, attempt)),
    [100, 200, 400, 800, 1000, 1000],
  );
  const jittered = resolveBackoff({
    minDelay: 100,
    maxDelay: 1000,
    jitter: 0.5,
  });
  const delays = Array.from({ length: 200 }, () => backoffDelay(jittered, 3));
  assert.ok(delays.every((d) => d >= 200 && d <= 400), `${delays}`);
  assert.ok(new Set(delays).size > 10, "jitter varies the delay");
});
