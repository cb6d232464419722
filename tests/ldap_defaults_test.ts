/**
 * The LDAP client's defaults have one source (`lib/ldap/defaults.ts`): the
 * `[ldap]` section's defaults are the library's.
 *
 * Needs no permissions.
 */

import assert from "node:assert/strict";
import { parseConfig } from "../lib/config/mod.ts";
import {
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_MAX_PDU_SIZE,
  DEFAULT_OPERATION_TIMEOUT,
} from "../lib/ldap/mod.ts";

Deno.test("the [ldap] section's PDU size and timeouts default to the LDAP library's defaults", () => {
  const ldap = parseConfig(
    `
[ldap]
url = "ldaps://ldap.example.edu"
data_dir = "/var/lib/wgsync"
[ldap.bind]
method = "anonymous"
[ldap.workgroups]
base = "ou=workgroups,dc=example,dc=edu"
`,
    "test.toml",
  ).ldap!;
  assert.deepEqual(
    {
      maxPdu: ldap.max_pdu_bytes,
      operation: ldap.operation_timeout_seconds * 1000,
      connect: ldap.connect_timeout_seconds * 1000,
    },
    {
      maxPdu: DEFAULT_MAX_PDU_SIZE,
      operation: DEFAULT_OPERATION_TIMEOUT,
      connect: DEFAULT_CONNECT_TIMEOUT,
    },
  );
  assert.deepEqual([DEFAULT_MAX_PDU_SIZE, DEFAULT_OPERATION_TIMEOUT], [
    16 * 1024 * 1024,
    60_000,
  ]);
});
