#!/usr/bin/env -S deno run --cached-only -R=/etc/wgsync,/run/wgsync-remctl -W=/run/systemd -N -E --allow-ffi -S=osRelease,uid,homedir
/**
 * wgsync-remctl, the Remctl Generator: receives events from each target's
 * SQS FIFO queue and runs the target's remctl command for them over
 * kept-open Kerberos connections, in order per workgroup; poison messages go
 * to the dead-letter queue at once, and a remctl server that is down pauses
 * its target without dead-lettering anything.
 *
 * @module
 */
import { runRemctl } from "../lib/wgsync_remctl/mod.ts";
import { type RoleDefinition, runRole } from "../lib/role/mod.ts";

/** The wgsync-remctl role. */
export const remctlRole: RoleDefinition = {
  name: "remctl",
  summary:
    "Runs a remctl command per event from each target's SQS FIFO queue, in order per workgroup; READY=1 once every queue answered and the ticket cache holds a valid TGT.",
  sections: ["remctl", "aws"],
  async main({ config, notifier, logger, signal }) {
    await runRemctl({
      remctl: config.remctl!,
      aws: config.aws!,
      notifier,
      logger,
      signal,
      stopTimeoutSeconds: config.stop_timeout_seconds,
    });
  },
};

if (import.meta.main) Deno.exit(await runRole(remctlRole));
