/**
 * A missing MIT GSSAPI library is reported with the Debian package to install.
 *
 * Needs: --allow-ffi.
 */

import assert from "node:assert/strict";
import { gssapi } from "../lib/gssapi/ffi.ts";

Deno.test("a missing GSSAPI library is reported with the Debian package to install", () => {
  assert.throws(
    () => gssapi("libgssapi_krb5_missing.so.9"),
    (error: Error) =>
      error.message.includes('"libgssapi_krb5_missing.so.9"') &&
      error.message.includes("libgssapi-krb5-2"),
  );
});
