/**
 * Peer text in log messages: control characters (terminal escape
 * sequences, carriage returns, bidirectional overrides) are written as
 * escapes by the renderer every sink uses. A DN like this one reaches the
 * log through wgsync-ldap's "Skipping workgroup {dn}" warning.
 *
 * Needs no permissions.
 */

import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { printable } from "../lib/log/mod.ts";
import { renderRecord } from "../lib/log/render.ts";

const HOSTILE = "cn=x\u001b[2J\u001b[31m,ou=g\rFAKE\u202eevil\u0000\tend\n";

Deno.test("printable writes control characters as escapes and keeps tab, newline and other text", () => {
  assert.equal(
    printable(HOSTILE),
    "cn=x\\x1b[2J\\x1b[31m,ou=g\\x0dFAKE\\u202eevil\\x00\tend\n",
  );
  assert.equal(printable("stem:näme ✓"), "stem:näme ✓");
});

Deno.test("values interpolated into a log message are made printable, the message template is not touched", () => {
  const record: LogRecord = {
    category: ["wgsync", "ldap"],
    level: "warning",
    message: [
      "Skipping workgroup ",
      HOSTILE,
      ": its name ",
      { dn: HOSTILE },
      "",
    ],
    rawMessage: "Skipping workgroup {dn}: its name {name}",
    properties: { dn: HOSTILE },
    timestamp: 0,
  };
  assert.equal(
    renderRecord(record).message,
    `Skipping workgroup ${printable(HOSTILE)}: its name ${
      printable(JSON.stringify({ dn: HOSTILE }))
    }`,
  );
  for (const c of ["\u001b", "\r", "\u202e"]) {
    assert.ok(!renderRecord(record).message.includes(c), JSON.stringify(c));
  }
});
