/**
 * Helpers of the GssInitiator tests: a context established with slapd through
 * SASL bind steps, the repeat count of failure tests, GssError checks.
 *
 * @module
 */

import assert from "node:assert/strict";
import { GssError, GssInitiator } from "../../lib/gssapi/mod.ts";
import { LdapTestConnection } from "./ldap_bind.ts";

/** How often each failure is repeated: MIT krb5 1.20 crashed within 15 tries on bad caches. */
export const REPEATS = 30;

/** Establishes `gss` with slapd through SASL bind steps; returns the (unwrapped) layer offer. */
export async function establish(
  gss: GssInitiator,
  conn: LdapTestConnection,
): Promise<Uint8Array> {
  let reply = await conn.saslBindStep(gss.step());
  while (!gss.established) {
    assert.equal(
      reply.resultCode,
      14,
      `bind step answered ${reply.resultCode}: ${reply.diagnosticMessage}`,
    );
    reply = await conn.saslBindStep(gss.step(reply.serverCredentials));
  }
  assert.equal(reply.resultCode, 14);
  assert.ok(reply.serverCredentials, "slapd sent no security layer offer");
  const offer = gss.unwrap(reply.serverCredentials);
  return offer.data;
}

/** Asserts `error` is a GssError whose message has every fragment. */
export function assertGssError(
  error: unknown,
  ...fragments: string[]
): GssError {
  assert.ok(error instanceof GssError, `expected a GssError, got ${error}`);
  for (const fragment of fragments) {
    assert.ok(
      error.message.includes(fragment),
      `message lacks "${fragment}": ${error.message}`,
    );
  }
  return error;
}

/** Asserts `make` throws a GssError whose message has every fragment. */
export function expectGssError(
  make: () => unknown,
  ...fragments: string[]
): GssError {
  try {
    make();
  } catch (error) {
    return assertGssError(error, ...fragments);
  }
  assert.fail("no error was thrown");
}
