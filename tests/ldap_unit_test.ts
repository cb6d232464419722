/**
 * wgsync-ldap's unit keeps its data private: systemd creates (and fixes)
 * the state directory 0700, the mode the role itself enforces. That the
 * unit passes `systemd-analyze verify` is checked by units_test.ts.
 *
 * Needs: --allow-read.
 */
import assert from "node:assert/strict";

Deno.test("units/wgsync-ldap.service makes its state directory 0700", async () => {
  const text = await Deno.readTextFile(
    new URL("../units/wgsync-ldap.service", import.meta.url),
  );
  const settings = (key: string) =>
    [...text.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) => m[1]);
  assert.deepEqual(
    {
      StateDirectory: settings("StateDirectory"),
      StateDirectoryMode: settings("StateDirectoryMode"),
    },
    { StateDirectory: ["wgsync"], StateDirectoryMode: ["0700"] },
  );
});
