#!/usr/bin/env -S deno run --cached-only -R=/etc/wgsync -W=/run/systemd -N=unix:/run/systemd/notify,unix:/run/systemd/journal/socket -E=NOTIFY_SOCKET,WATCHDOG_USEC,WATCHDOG_PID,JOURNAL_STREAM --allow-run=mount,blkid,findmnt
/**
 * wgsync-ebs: a oneshot that makes sure the data volume holding wgsync-ldap's
 * store is mounted (and is the right volume) before wgsync-ldap starts.
 *
 * @module
 */
import { ensureVolumeMounted } from "../lib/wgsync_ebs/mod.ts";
import { defineRole, runRole } from "../lib/role/mod.ts";

/** The wgsync-ebs role. */
export const ebsRole = defineRole({
  name: "ebs",
  summary:
    "Waits until the data volume is mounted at ebs.mount_point (mounting it by ebs.label when ebs.mount is true) and checks it is the volume labelled ebs.label.",
  sections: ["ebs"],
  async main({ config, logger, notifier, signal }) {
    const { ebs } = config;
    await notifier.status(`waiting for the data volume at ${ebs.mount_point}`);
    const entry = await ensureVolumeMounted(ebs.mount_point, {
      label: ebs.label,
      mount: ebs.mount,
      timeoutSeconds: ebs.timeout_seconds,
      signal,
      onWait: (reason) =>
        logger.info("Waiting for the data volume: {reason}", { reason }),
    });
    logger.info("Data volume {source} ({fsType}) is mounted at {mountPoint}", {
      ...entry,
    });
    await notifier.ready(`data volume mounted at ${entry.mountPoint}`);
  },
});

if (import.meta.main) Deno.exit(await runRole(ebsRole));
