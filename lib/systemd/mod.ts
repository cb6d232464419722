/**
 * systemd integration: the sd_notify protocol (readiness, status, stopping,
 * timeout extension, watchdog) over the `NOTIFY_SOCKET` datagram socket.
 *
 * ```ts
 * const notifier = Notifier.fromEnv();
 * notifier.startWatchdog({ healthy: () => connected });
 * await notifier.ready("serving 12 workgroups");
 * ```
 *
 * @module
 */
export {
  Notifier,
  type NotifierFromEnvOptions,
  type NotifierOptions,
  NOTIFY_ENV,
  type WatchdogOptions,
} from "./notify.ts";
export {
  DatagramError,
  DatagramSender,
  isMessageTooLong,
  socketAddress,
} from "./datagram.ts";
