/**
 * A bad KRB5CCNAME never crashes a fresh process: MIT krb5 1.20 segfaulted
 * in the first GSS call of about half the processes given an empty cache;
 * each run here is a new Deno process against the local stack's KDC.
 *
 * Needs: --allow-ffi, --allow-env (KRB5_CONFIG, KRB5CCNAME), --allow-run (the
 * stack's daemons; this Deno binary for the crash check),
 * --allow-net=127.0.0.1, read/write in the temporary directories.
 */

import assert from "node:assert/strict";
import { getKerberosStack as setup } from "./helpers/stack.ts";

Deno.test("a bad KRB5CCNAME never crashes a fresh process", async () => {
  const stack = await setup();
  const dir = await Deno.makeTempDir({ prefix: "sasl-gssapi-test-" });
  try {
    await Deno.writeFile(`${dir}/empty.ccache`, new Uint8Array(0), {
      mode: 0o600,
    });
    const module = new URL("../lib/gssapi/mod.ts", import.meta.url).href;
    // MIT krb5 1.20 crashed on the first GSS call of a process in about half
    // the runs with such a cache; each run here is a new process.
    const code = `
      import { GssError, GssInitiator } from "${module}";
      try { new GssInitiator("ldap@localhost").step(); Deno.exit(3); }
      catch (error) { Deno.exit(error instanceof GssError ? 0 : 4); }`;
    for (let i = 0; i < 10; i++) {
      const { code: status, signal } = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--no-config", code],
        env: {
          KRB5_CONFIG: stack.krb5Config,
          KRB5CCNAME: `FILE:${dir}/empty.ccache`,
        },
        stdout: "null",
        stderr: "null",
      }).output();
      assert.equal(signal, null, `run ${i} died of ${signal}`);
      assert.equal(status, 0, `run ${i} exited ${status}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
