#!/usr/bin/env -S deno run --cached-only -R=/etc/wgsync,/run/wgsync -W=/run/systemd,/run/wgsync -N -E -S=osRelease,uid,homedir
/**
 * wgsync-event, the Event Generator: receives events from wgsync-ldap over
 * the authenticated channel, looks each stem up in DynamoDB (creating new
 * stems), publishes to the SNS FIFO topic and acknowledges an event only
 * once SNS accepted it.
 *
 * @module
 */
import { runEventGenerator } from "../lib/wgsync_event/mod.ts";
import { defineRole, runRole } from "../lib/role/mod.ts";

/** The wgsync-event role. */
export const eventRole = defineRole({
  name: "event",
  summary:
    "Publishes the events wgsync-ldap sends over the channel to the SNS FIFO topic (stems from DynamoDB, large bodies through S3); READY=1 once the stems table, topic and bucket passed the start check and the channel listens.",
  sections: ["event", "aws", "channel"],
  async main({ config, notifier, signal }) {
    await runEventGenerator({
      event: config.event,
      aws: config.aws,
      channel: config.channel,
      stopTimeoutSeconds: config.stop_timeout_seconds,
      notifier,
      signal,
    });
  },
});

if (import.meta.main) Deno.exit(await runRole(eventRole));
