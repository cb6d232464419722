#!/usr/bin/env -S deno run --cached-only -R=/etc/wgsync,/run/wgsync-ctl -W=/run/systemd,/run/wgsync-ctl -N -E -S=osRelease,uid,homedir
/**
 * wgsync-web, the operators' site: health and figures of every role, the
 * stems table, live events, workgroups, dead letters and resync. Read-only
 * for everyone; changes only for admins named by the trusted reverse proxy.
 *
 * @module
 */
import { runWeb } from "../lib/wgsync_web/mod.ts";
import { defineRole, runRole } from "../lib/role/mod.ts";

/** The wgsync-web role. */
export const webRole = defineRole({
  name: "web",
  summary:
    "Serves the operators' site on web.listen (read-only for everyone; changes for the admins a trusted proxy names); READY=1 once listening.",
  sections: ["web", "aws"],
  async main({ config, notifier, signal }) {
    await runWeb({ web: config.web, aws: config.aws, notifier, signal });
  },
});

if (import.meta.main) Deno.exit(await runRole(webRole));
