/** @jsxImportSource hono/jsx */
/**
 * The overview: each role's health and key figures, and time charts of the
 * kept history (drawn by /static/app.js with uPlot; the table works
 * without JavaScript and is kept current over server-sent events).
 *
 * @module
 */
import { FIGURES } from "./figures.ts";
import {
  formatNumber,
  formatSeconds,
  formatTime,
  Page,
  type PageContext,
} from "./layout.tsx";
import type { RoleState } from "./scrape.ts";

/** The charts drawn: figure key → title. */
export const CHARTS: readonly [string, string][] = [
  ["events_per_minute", "Events per minute"],
  ["outbox_depth", "Outbox depth"],
  ["publish_latency", "Publish latency (s)"],
  ["remctl_latency", "remctl latency (s)"],
];

/** The overview page. */
export function OverviewPage(
  props: { context: PageContext; states: RoleState[]; now: number },
) {
  return (
    <Page title="Overview" page="overview" context={props.context} chart>
      {props.states.length === 0
        ? <p>No roles are configured to watch ([web].roles).</p>
        : (
          <table id="roles">
            <thead>
              <tr>
                <th>role</th>
                <th>state</th>
                {FIGURES.map((figure) => (
                  <th key={figure.key}>{figure.label}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {props.states.map((state) => (
                <RoleRow state={state} now={props.now} />
              ))}
            </tbody>
          </table>
        )}
      <section id="charts">
        {CHARTS.map(([key, title]) => (
          <figure class="chart" data-figure={key}>
            <figcaption>{title}, last hour</figcaption>
          </figure>
        ))}
      </section>
    </Page>
  );
}

/** One role's row; /static/app.js replaces its cells by `data-*` names. */
function RoleRow(props: { state: RoleState; now: number }) {
  const { state } = props;
  return (
    <tr data-role={state.name} class={state.up ? "up" : "down"}>
      <td>
        <span class="name">{state.name}</span>
        <br />
        <small>{state.url}</small>
      </td>
      <td data-cell="state">{stateText(state, props.now)}</td>
      {FIGURES.map((figure) => (
        <td data-figure={figure.key}>
          {formatNumber(state.figures[figure.key], figure.unit)}
        </td>
      ))}
    </tr>
  );
}

/** "up, healthy" / "down since …" as the table shows it. */
export function stateText(state: RoleState, now: number): string {
  if (!state.up) {
    return `down since ${formatTime(state.since)} (${
      formatSeconds((now - state.since) / 1000)
    }): ${state.error ?? "no answer"}`;
  }
  return state.healthy ? "up, healthy" : "up, unhealthy (/healthz 503)";
}
