/**
 * wgsync-event's `STATUS=` line: state, channel connections, events per
 * second over the last interval, totals published and disabled, and the
 * last AWS error while it lasts.
 *
 * @module
 */

/** What the status line reports. */
export interface GeneratorStatus {
  state: string;
  connections: number;
  /** Events handled per second over the last interval. */
  rate: number;
  published: number;
  disabled: number;
  /** The current problem, e.g. "SNS unreachable (TimeoutError ...), retrying". */
  lastError?: string;
}

/** e.g. `running; 4 connections, 812 events/s, 120344 published, 12 disabled`. */
export function statusLine(status: GeneratorStatus): string {
  const parts = [
    `${status.connections} connection${status.connections === 1 ? "" : "s"}`,
    `${Math.round(status.rate)} events/s`,
    `${status.published} published`,
    `${status.disabled} disabled`,
  ];
  if (status.lastError !== undefined) {
    parts.push(`last error: ${status.lastError}`);
  }
  return `${status.state}; ${parts.join(", ")}`;
}
