/** @jsxImportSource hono/jsx */
/**
 * The workgroups list (from wgsync-ldap's store) and one workgroup's page:
 * its recent events (live), its current members, and for admins the resync
 * button (a fresh `workgroup.snapshot` through wgsync-ldap's outbox).
 *
 * @module
 */
import type { DirectoryMembers, WorkgroupSummary } from "./directory.ts";
import { EventTable } from "./events_page.tsx";
import { CsrfField, formatNumber, Page, type PageContext } from "./layout.tsx";
import type { LiveEvent } from "./live.ts";

const workgroupLink = (name: string) =>
  `/workgroup?${new URLSearchParams({ name })}`;

/** The list of workgroups matching a search. */
export function WorkgroupsPage(
  props: {
    context: PageContext;
    query: string;
    workgroups: WorkgroupSummary[];
    error?: string;
  },
) {
  return (
    <Page title="Workgroups" page="workgroups" context={props.context}>
      <form method="get" action="/workgroups" class="search">
        <input
          type="search"
          name="q"
          value={props.query}
          placeholder="workgroup name contains"
        />
        <button type="submit">Search</button>
      </form>
      {props.error && <p class="warning">{props.error}</p>}
      <table id="workgroups">
        <thead>
          <tr>
            <th>workgroup</th>
            <th>members</th>
          </tr>
        </thead>
        <tbody>
          {props.workgroups.map((workgroup) => (
            <tr>
              <td>
                <a href={workgroupLink(workgroup.name)}>{workgroup.name}</a>
              </td>
              <td>{workgroup.members}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Page>
  );
}

/** One workgroup. */
export function WorkgroupPage(
  props: {
    context: PageContext;
    name: string;
    events: LiveEvent[];
    members?: DirectoryMembers;
    error?: string;
    canResync: boolean;
    /** When the events were read (ms). */
    since: number;
  },
) {
  const { context, name } = props;
  return (
    <Page title={`Workgroup ${name}`} page="workgroup" context={context}>
      {context.viewer.admin !== undefined && props.canResync && (
        <form method="post" action="/workgroup/snapshot" class="controls">
          <CsrfField context={context} />
          <input type="hidden" name="name" value={name} />
          <button type="submit" id="resync">
            Resync (send a fresh snapshot downstream)
          </button>
        </form>
      )}
      <h2>Recent events</h2>
      <EventTable
        events={props.events}
        filter={{ workgroup: name, exact: true }}
        since={props.since}
      />
      <h2>Current members</h2>
      {props.error && <p class="warning">{props.error}</p>}
      {props.members === undefined
        ? !props.error && <p>wgsync-ldap's store has no such workgroup.</p>
        : (
          <>
            {props.members.members.length < props.members.total && (
              <p id="members-shown">
                The first {formatNumber(props.members.members.length)} of{" "}
                {formatNumber(props.members.total)} members.
              </p>
            )}
            <table id="members">
              <thead>
                <tr>
                  <th>uid</th>
                  <th>member</th>
                </tr>
              </thead>
              <tbody>
                {props.members.members.map((member) => (
                  <tr>
                    <td>{member.uid ?? "—"}</td>
                    <td>{member.dn}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
    </Page>
  );
}
