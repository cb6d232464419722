/** @jsxImportSource hono/jsx */
/**
 * The stems page: the DynamoDB table searchable and paginated; admins get
 * enable/disable and topic override forms (POST with the CSRF token).
 *
 * @module
 */
import { CsrfField, Page, type PageContext } from "./layout.tsx";
import type { Stem, StemPage } from "./stems.ts";

/** The stems page. */
export function StemsPage(
  props: {
    context: PageContext;
    query: string;
    result: StemPage;
    error?: string;
  },
) {
  const { context, query, result } = props;
  const admin = context.viewer.admin !== undefined;
  const link = (page: number) =>
    `/stems?${new URLSearchParams({ q: query, page: String(page) })}`;
  return (
    <Page title="Stems" page="stems" context={context}>
      <form method="get" action="/stems" class="search">
        <input
          type="search"
          name="q"
          value={query}
          placeholder="stem or first workgroup"
        />
        <button type="submit">Search</button>
      </form>
      {props.error && <p class="warning">{props.error}</p>}
      <p>
        {result.total} stem(s){query !== "" ? ` matching "${query}"` : ""}; page
        {" "}
        {result.page} of {result.pages}
      </p>
      <table id="stems">
        <thead>
          <tr>
            <th>stem</th>
            <th>discovered</th>
            <th>first workgroup</th>
            <th>enabled</th>
            <th>topic override</th>
          </tr>
        </thead>
        <tbody>
          {result.stems.map((stem) => (
            <StemRow stem={stem} context={context} admin={admin} />
          ))}
        </tbody>
      </table>
      <nav class="pages">
        {result.page > 1 && <a href={link(result.page - 1)}>previous</a>}
        {result.page < result.pages && (
          <a href={link(result.page + 1)} rel="next">next</a>
        )}
      </nav>
    </Page>
  );
}

function StemRow(props: { stem: Stem; context: PageContext; admin: boolean }) {
  const { stem, context, admin } = props;
  return (
    <tr data-stem={stem.stem}>
      <td>{stem.stem}</td>
      <td>{stem.discoveredAt ?? "—"}</td>
      <td>
        {stem.discoveredFrom === undefined ? "—" : (
          <a
            href={`/workgroup?${new URLSearchParams({
              name: stem.discoveredFrom,
            })}`}
          >
            {stem.discoveredFrom}
          </a>
        )}
      </td>
      <td data-cell="enabled">
        {stem.enabled ? "yes" : "no"}
        {admin && (
          <form method="post" action="/stems/enabled" class="inline">
            <CsrfField context={context} />
            <input type="hidden" name="stem" value={stem.stem} />
            <input
              type="hidden"
              name="enabled"
              value={stem.enabled ? "false" : "true"}
            />
            <button type="submit" class="toggle">
              {stem.enabled ? "Disable" : "Enable"}
            </button>
          </form>
        )}
      </td>
      <td data-cell="topic">
        {admin
          ? (
            <form method="post" action="/stems/topic" class="inline">
              <CsrfField context={context} />
              <input type="hidden" name="stem" value={stem.stem} />
              <input
                type="text"
                name="topicArn"
                value={stem.topicArn ?? ""}
                placeholder="default topic"
                size={40}
              />
              <button type="submit">Set</button>
            </form>
          )
          : stem.topicArn ?? "default"}
      </td>
    </tr>
  );
}
