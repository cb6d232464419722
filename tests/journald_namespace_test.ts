/**
 * The test journald (helpers/journald.ts) runs in private namespaces: it
 * leaves the host's /run and /var/log/journal alone.
 *
 * Needs root (unshare, nsenter, mount), /lib/systemd/systemd-journald,
 * journalctl and systemd-cat; run with --allow-all (the tests spawn deno with
 * narrow permissions of its own).
 */

import assert from "node:assert/strict";
import { Journald } from "./helpers/journald.ts";

async function hostState() {
  const list = async (dir: string) => {
    try {
      return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name)
        .sort();
    } catch {
      return null;
    }
  };
  return {
    runSystemd: await list("/run/systemd"),
    runLog: await list("/run/log"),
    runMount: await list("/run/mount"),
    varLogJournal: await list("/var/log/journal"),
  };
}

Deno.test("the journald namespace leaves the host's /run and /var/log/journal alone", async () => {
  const before = await hostState();
  const journald = await Journald.start();
  const inside = await journald.run("ls", ["/run/systemd/journal"]);
  assert.match(inside.stdout, /socket/);
  assert.deepEqual(await hostState(), before, "while running");
  await journald.stop();
  assert.deepEqual(await hostState(), before, "after stopping");
});
