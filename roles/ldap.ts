#!/usr/bin/env -S deno run --cached-only -R=/etc/wgsync,/var/lib/wgsync,/run/wgsync-ldap,/run/wgsync -W=/var/lib/wgsync,/run/systemd,/run/wgsync -N -E=NOTIFY_SOCKET,WATCHDOG_USEC,WATCHDOG_PID,JOURNAL_STREAM --allow-ffi
/**
 * wgsync-ldap, the LDAP Consumer: follows the directory's workgroups with an
 * RFC 4533 sync search, keeps the store, cookie and outbox in one SQLite
 * transaction per change, and hands the events to wgsync-event over the
 * authenticated channel (or prints them with `--stdout`).
 *
 * @module
 */
import { runConsumer } from "../lib/wgsync_ldap/mod.ts";
import { defineRole, runRole } from "../lib/role/mod.ts";

/** The wgsync-ldap role. */
export const ldapRole = defineRole({
  name: "ldap",
  summary:
    "Follows the directory's workgroups (RFC 4533 sync) and sends their membership changes as events to wgsync-event; READY=1 once the first refresh is done and the channel is up.",
  sections: ["ldap"],
  sectionsFor: (flags) => flags.stdout ? [] : ["channel"],
  flags: {
    stdout: {
      type: "boolean",
      description:
        "print each event as one JSON line on stdout instead of sending it (no [channel] needed)",
    },
    "accept-mass-delete": {
      type: "boolean",
      description:
        "apply, once, a refresh that deletes more workgroups than ldap.mass_delete_threshold",
    },
  },
  async main({ config, notifier, signal, flags }) {
    await runConsumer({
      ldap: config.ldap,
      channel: config.channel,
      notifier,
      signal,
      stdout: flags.stdout === true,
      acceptMassDelete: flags["accept-mass-delete"] === true,
    });
  },
});

if (import.meta.main) Deno.exit(await runRole(ldapRole));
