// Crash safety: the consumer's library parts (store, apply, outbox pump,
// channel client) run in a child process that is killed with SIGKILL at
// random points while it applies 1,000 directory changes, then restarted;
// the events delivered over the real channel to this process, de-duplicated
// by id, must rebuild the directory's final memberships exactly.
//
// The directory is simulated here (a deterministic sequence of sync messages
// as the sync client would yield them from slapd: persist-stage changes with
// cookies, and on some restarts a present-phase refresh as after a slapd
// restart). The run against a real slapd comes with roles/ldap.ts.
//
// The child is tests/helpers/consumer_crash_child.ts, the simulated directory
// tests/helpers/consumer_crash_directory.ts.
// Needs: read/write in the temp dir, net (the Unix socket), read and run of
// the deno binary (Deno.execPath()); the child gets only its directory and
// its socket.

import assert from "node:assert/strict";
import { openStore } from "../lib/wgsync_ldap/store/mod.ts";
import { csnFromCookie, type WorkgroupEvent } from "../lib/events/mod.ts";
import { ChannelServer } from "../lib/channel/mod.ts";
import { csn, reconstruct } from "./helpers/consumer.ts";
import { writeKey } from "./helpers/channel.ts";
import { progress, started } from "./helpers/consumer_crash_child.ts";
import {
  CHANGES,
  directory,
  FIRST_CHANGE_CSN,
  stateAt,
} from "./helpers/consumer_crash_directory.ts";

const CHILD = new URL("./helpers/consumer_crash_child.ts", import.meta.url)
  .pathname;

Deno.test({
  name:
    "kill -9 at random points during 1,000 changes: the delivered events rebuild the final memberships exactly",
  // The child's leftovers (socket reads) are closed with the server.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "wgsync-crash-test-" });
    const key = await writeKey(dir);
    const socket = `${dir}/event.sock`;
    const delivered: WorkgroupEvent[] = [];
    let server: ChannelServer | undefined;
    const timeline: string[] = [];
    try {
      server = await ChannelServer.listen({
        address: { transport: "unix", path: socket },
        keyFile: key.path,
        handler: (event) => {
          delivered.push(event.body as WorkgroupEvent);
          return Promise.resolve();
        },
      });
      let kills = 0;
      let midway = 0;
      for (let run = 0;; run++) {
        assert.ok(run < 80, `the child did not finish: ${timeline.join(", ")}`);
        const jump = kills % 3 === 1 ? 1 + Math.floor(Math.random() * 40) : 0;
        const process = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            `--allow-read=${dir}`,
            `--allow-write=${dir}`,
            `--allow-net=unix:${socket}`,
            "--quiet",
            "--frozen",
            "--cached-only",
            CHILD,
            "--child",
            `--dir=${dir}`,
            `--socket=${socket}`,
            `--key=${key.path}`,
            `--jump=${jump}`,
            `--run=${run}`,
          ],
          stdout: "inherit",
          stderr: "inherit",
        }).spawn();
        if (kills < 20) {
          // Two kills in three count from the end of the child's start (a
          // loaded machine may take longer to start it than the delay), the
          // third from its spawn (a kill while it opens the store).
          if (kills % 3 !== 2) await started(dir, run, process.status);
          const delay = 20 + Math.random() * 380;
          const timer = setTimeout(() => {
            try {
              process.kill("SIGKILL");
            } catch {
              // Already exited.
            }
          }, delay);
          const status = await process.status;
          clearTimeout(timer);
          const reached = progress(dir);
          timeline.push(
            `${status.signal ?? status.code}@${Math.round(delay)}ms${
              jump ? `+jump${jump}` : ""
            }→${reached ?? "-"}`,
          );
          if (status.signal === "SIGKILL") {
            kills++;
            if (reached !== undefined && reached > 0 && reached < CHANGES) {
              midway++;
            }
            continue;
          }
          assert.equal(
            status.code,
            0,
            `the child failed: ${timeline.join(", ")}`,
          );
          break;
        }
        const status = await process.status;
        timeline.push(`${status.code}`);
        assert.equal(
          status.code,
          0,
          `the child failed: ${timeline.join(", ")}`,
        );
        break;
      }
      // The final directory, by workgroup name.
      const sim = directory();
      const final = new Map(
        [...stateAt(sim, CHANGES).values()].map((
          entry,
        ) => [entry.name, new Set(entry.members)]),
      );
      const rebuilt = reconstruct(delivered);
      assert.deepEqual(
        rebuilt,
        final,
        `kills and restarts: ${timeline.join(", ")}`,
      );
      const ids = new Set(delivered.map((e) => e.id));
      console.log(`    ${timeline.join(" ")}`);
      console.log(
        `    ${kills} kills (${midway} amid the changes), ${timeline.length} runs, ${delivered.length} deliveries of ${ids.size} events (${
          delivered.length - ids.size
        } re-sent), ${final.size} workgroups`,
      );
      assert.ok(
        midway >= 5,
        `too few kills landed amid the changes (${timeline.join(", ")})`,
      );
      // Everything delivered was acknowledged: the outbox is empty, the cookie final.
      const { store } = openStore(`${dir}/store.sqlite`, {
        identity: { test: "crash" },
      });
      assert.equal(store.outboxDepth(), 0);
      assert.equal(
        csnFromCookie(store.cookie("workgroups")),
        csn(FIRST_CHANGE_CSN + CHANGES),
      );
      store.close();
    } finally {
      await server?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
