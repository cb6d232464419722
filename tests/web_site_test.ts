/**
 * Runs the wgsync-web browser suite (`web_site_browser.ts`) in a child
 * `deno test --allow-all`: playwright-core reads
 * `/proc/sys/fs/binfmt_misc/WSLInterop` when it loads, which Deno grants only
 * with --allow-all, and the test task does not grant that. wgsync-web itself
 * runs there with exactly its own permissions.
 *
 * @module
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname;

Deno.test("wgsync-web in a real Chromium (the browser suite in a child deno test)", async () => {
  const status = await new Deno.Command(Deno.execPath(), {
    args: [
      "test",
      "--frozen",
      "--cached-only",
      "--allow-all",
      "--config",
      `${ROOT}deno.json`,
      `${ROOT}tests/web_site_browser.ts`,
    ],
    cwd: ROOT,
    stdin: "null",
  }).spawn().status;
  assert.equal(
    status.code,
    0,
    "the browser suite failed (its report is above)",
  );
});
