#!/usr/bin/env -S deno run --cached-only -R=/etc/wgsync,/var/lib/wgsync,/run/wgsync-ldap,/run/wgsync,/run/wgsync-ctl -W=/var/lib/wgsync,/run/systemd,/run/wgsync,/run/wgsync-ctl -N -E=NOTIFY_SOCKET,WATCHDOG_USEC,WATCHDOG_PID,JOURNAL_STREAM --allow-ffi
/**
 * wgsync-ldap, the LDAP Consumer: follows the directory's workgroups with an
 * RFC 4533 sync search, keeps the store, cookie and outbox in one SQLite
 * transaction per change, and hands the events to wgsync-event over the
 * authenticated channel (or prints them with `--stdout`).
 *
 * `wgsync-ldap snapshot WORKGROUP [--config PATH]` asks the running
 * wgsync-ldap, over its control socket, to send a `workgroup.snapshot` of
 * WORKGROUP downstream, and prints the snapshot's event id.
 *
 * @module
 */
import { runConsumer } from "../lib/wgsync_ldap/mod.ts";
import { requestSnapshot } from "../lib/control/mod.ts";
import { defineRole, EX_USAGE, runRole } from "../lib/role/mod.ts";

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

/** `wgsync-ldap snapshot WORKGROUP`: a snapshot through the running consumer. */
export function snapshotCommand(workgroup: string) {
  return defineRole({
    name: "ldap",
    summary:
      "snapshot WORKGROUP: asks the running wgsync-ldap (over ldap.control_socket) to send a workgroup.snapshot of WORKGROUP downstream through its outbox; prints the snapshot's event id.",
    sections: ["ldap"],
    check: (config) =>
      config.ldap.control_socket === undefined
        ? ['key "ldap.control_socket" is required by "wgsync-ldap snapshot"']
        : [],
    async main({ config }) {
      console.log(
        await requestSnapshot(config.ldap.control_socket!, workgroup),
      );
    },
  });
}

if (import.meta.main) {
  const [command, workgroup, ...rest] = Deno.args;
  if (command !== "snapshot") Deno.exit(await runRole(ldapRole));
  if (workgroup === undefined || workgroup.startsWith("-")) {
    console.error("Usage: wgsync-ldap snapshot WORKGROUP [--config PATH]");
    Deno.exit(EX_USAGE);
  }
  Deno.exit(await runRole(snapshotCommand(workgroup), { argv: rest }));
}
