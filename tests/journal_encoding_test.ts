/**
 * The native journal protocol encoding of the logging library: simple and
 * binary fields, cutting oversized entries, field names, secret names.
 *
 * Needs: nothing.
 */

import assert from "node:assert/strict";
import {
  encodeJournalEntry,
  fitJournalEntry,
  isSecretName,
  journalFieldName,
} from "../lib/log/mod.ts";

Deno.test("encodeJournalEntry writes simple fields as NAME=value and multi-line ones in binary form", () => {
  const bytes = encodeJournalEntry({
    MESSAGE: "hi",
    WGSYNC_X: "a\nb",
    EMPTY: "",
  });
  const expected = new Uint8Array([
    ...new TextEncoder().encode("MESSAGE=hi\nWGSYNC_X\n"),
    3,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    ...new TextEncoder().encode("a\nb\nEMPTY=\n"),
  ]);
  assert.deepEqual(bytes, expected);
  for (
    const name of ["_PID", "1ST", "lower", "WITH-DASH", "", "X".repeat(65)]
  ) {
    assert.throws(
      () => encodeJournalEntry({ [name]: "v" }),
      (error: Error) =>
        error instanceof TypeError && error.message.includes(`"${name}"`),
      name,
    );
  }
});

Deno.test("fitJournalEntry cuts the largest values at a character boundary and leaves small entries alone", () => {
  const small = { MESSAGE: "x" };
  assert.equal(fitJournalEntry(small, 100), small);
  const fitted = fitJournalEntry({
    MESSAGE: "m",
    BIG: "é".repeat(1000),
    MID: "y".repeat(300),
  }, 600);
  const size = encodeJournalEntry(fitted).length;
  assert.ok(size <= 600, `fits: ${size}`);
  assert.equal(fitted.MESSAGE, "m");
  assert.equal(fitted.MID, "y".repeat(300));
  assert.match(String(fitted.BIG), /^(é)+…\[truncated \d+ of 2000 bytes\]$/);
});

Deno.test("property names become valid WGSYNC_ journal field names", () => {
  const cases: Record<string, string> = {
    workgroup: "WGSYNC_WORKGROUP",
    eventId: "WGSYNC_EVENT_ID",
    HTTPStatus: "WGSYNC_HTTP_STATUS",
    entryUUID: "WGSYNC_ENTRY_UUID",
    "retry-after": "WGSYNC_RETRY_AFTER",
    "a.b c": "WGSYNC_A_B_C",
    _private: "WGSYNC_PRIVATE",
    "größe": "WGSYNC_GR_SSE",
    "": "WGSYNC_PROPERTY",
    ["x".repeat(80)]: `WGSYNC_${"X".repeat(57)}`,
  };
  for (const [property, field] of Object.entries(cases)) {
    assert.equal(journalFieldName(property), field, property);
  }
});

Deno.test("secret-looking property names are recognised, identifiers of keys are not", () => {
  for (
    const name of [
      "password",
      "ldapPassword",
      "secret",
      "clientSecret",
      "token",
      "accessToken",
      "credentials",
      "authorization",
      "key",
      "apiKey",
      "privateKey",
      "data_key",
      "plaintext",
      "pwd",
      "auth",
    ]
  ) {
    assert.equal(isSecretName(name), true, name);
  }
  for (
    const name of [
      "keyId",
      "kmsKeyId",
      "keyArn",
      "keytab",
      "keytabPath",
      "passwordFile",
      "secretArn",
      "tokenExpiry",
      "workgroup",
      "cookie",
      "author",
      "monkey",
      "keyVersion",
    ]
  ) {
    assert.equal(isSecretName(name), false, name);
  }
});
