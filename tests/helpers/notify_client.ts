/**
 * A small program for the sd_notify tests: sets up console logging, reads the
 * notification variables from its environment, sends `READY=1` with a status
 * and exits 0, whether the notification could be sent or not.
 *
 * @module
 */
import { dispose } from "@logtape/logtape";
import { setupLogging } from "../../lib/log/mod.ts";
import { Notifier } from "../../lib/systemd/mod.ts";

if (import.meta.main) {
  // A journal socket that does not exist: log lines go to stderr.
  await setupLogging({
    identifier: "wgsync-notify-client",
    journalSocket: Deno.env.get("TEST_JOURNAL_SOCKET"),
  });
  const notifier = Notifier.fromEnv();
  await notifier.ready("client ready");
  notifier.close();
  await dispose();
}
