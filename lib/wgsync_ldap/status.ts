/**
 * The consumer's `STATUS=` line: its state, the workgroups in the store, the
 * outbox depth and the seconds since the last directory change.
 *
 * @module
 */

/** What the status line reports. */
export interface ConsumerStatus {
  /** A short state, e.g. "first refresh", "running", "REFUSED a mass deletion …". */
  state: string;
  workgroups: number;
  outbox: number;
  /** When the last change produced events (ms since the epoch); undefined: none since start. */
  lastChange?: number;
  /** Channel connections up, and how many there are; undefined in `--stdout` mode. */
  channel?: { up: number; of: number };
}

/** Renders the status line, e.g. `running; 20 workgroups, outbox 0, last change 12 s ago, channel 4/4 up`. */
export function statusLine(
  status: ConsumerStatus,
  now: number = Date.now(),
): string {
  const last = status.lastChange === undefined
    ? "no change since start"
    : `last change ${
      Math.max(0, Math.round((now - status.lastChange) / 1000))
    } s ago`;
  const parts = [
    `${status.workgroups} workgroups`,
    `outbox ${status.outbox}`,
    last,
  ];
  if (status.channel !== undefined) {
    parts.push(`channel ${status.channel.up}/${status.channel.of} up`);
  }
  return `${status.state}; ${parts.join(", ")}`;
}
