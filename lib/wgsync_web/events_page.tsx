/** @jsxImportSource hono/jsx */
/**
 * The live events page: the events the site's queue received, filterable by
 * stem, workgroup and type; new ones are prepended by /static/app.js from
 * `/events/stream` (server-sent events) without a reload.
 *
 * @module
 */
import { EVENT_TYPES } from "../events/mod.ts";
import { formatTime, Page, type PageContext } from "./layout.tsx";
import type { LiveEvent, LiveFilter } from "./live.ts";

/** The live events page. */
export function EventsPage(
  props: {
    context: PageContext;
    filter: LiveFilter;
    events: LiveEvent[];
    configured: boolean;
    error?: string;
    /** When the list was read (ms): the stream replays what came since. */
    since: number;
  },
) {
  const { filter } = props;
  return (
    <Page title="Live events" page="events" context={props.context}>
      {!props.configured && (
        <p class="warning">
          No queue is configured for live events ([web].queue_url).
        </p>
      )}
      {props.error && (
        <p class="warning">Cannot receive events: {props.error}</p>
      )}
      <form method="get" action="/events" class="search" id="filter">
        <input
          type="text"
          name="stem"
          value={filter.stem ?? ""}
          placeholder="stem"
        />
        <input
          type="text"
          name="workgroup"
          value={filter.workgroup ?? ""}
          placeholder="workgroup contains"
        />
        <select name="type">
          <option value="">any type</option>
          {EVENT_TYPES.map((type) => (
            <option value={type} selected={filter.type === type}>
              {type}
            </option>
          ))}
        </select>
        <button type="submit">Filter</button>
      </form>
      <EventTable events={props.events} filter={filter} since={props.since} />
    </Page>
  );
}

/**
 * The table of events; `data-stream` is where app.js subscribes, with the
 * time the list was read, so events that arrive before the stream is open
 * are replayed rather than lost.
 */
export function EventTable(
  props: { events: LiveEvent[]; filter: LiveFilter; since: number },
) {
  const query = new URLSearchParams(
    Object.entries(props.filter).filter(([, v]) => v).map((
      [k, v],
    ) => [k, String(v)]),
  );
  query.set("since", String(props.since));
  return (
    <table id="events" data-stream={`/events/stream?${query}`}>
      <thead>
        <tr>
          <th>received</th>
          <th>type</th>
          <th>workgroup</th>
          <th>detail</th>
          <th>seq</th>
          <th>event id</th>
        </tr>
      </thead>
      <tbody>
        {props.events.map((event) => <EventRow key={event.id} event={event} />)}
      </tbody>
    </table>
  );
}

/** What the detail column shows; app.js builds the same from the JSON. */
export function eventDetail(event: LiveEvent): string {
  if (event.problem) return `unreadable body: ${event.problem}`;
  if (event.offloaded) return "body in S3 (claim check)";
  if (event.member !== undefined) return event.member;
  if (event.previous !== undefined) return `renamed from ${event.previous}`;
  if (event.members !== undefined) return `${event.members} member(s)`;
  return "";
}

function EventRow(props: { event: LiveEvent }) {
  const { event } = props;
  return (
    <tr data-id={event.id}>
      <td>{formatTime(event.receivedAt)}</td>
      <td>{event.type}</td>
      <td>
        <a
          href={`/workgroup?${new URLSearchParams({ name: event.workgroup })}`}
        >
          {event.workgroup}
        </a>
      </td>
      <td>{eventDetail(event)}</td>
      <td>{event.seq ?? ""}</td>
      <td>
        <code>{event.id.slice(0, 12)}</code>
      </td>
    </tr>
  );
}
