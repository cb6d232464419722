/** @jsxImportSource hono/jsx */
/**
 * The page shell shared by every page, and small formatting helpers. Text
 * from the directory or the queues is only ever passed as JSX children or
 * attribute values, which hono/jsx escapes.
 *
 * @module
 */
import { raw } from "hono/html";
import type { Child } from "hono/jsx";
import type { Viewer } from "./access.ts";

/** What every page is rendered with. */
export interface PageContext {
  viewer: Viewer;
  /** The admin's CSRF token (admins only). */
  csrf?: string;
}

const NAV: readonly [string, string][] = [
  ["/", "Overview"],
  ["/stems", "Stems"],
  ["/events", "Live events"],
  ["/workgroups", "Workgroups"],
  ["/dead-letters", "Dead letters"],
];

/** The page shell: navigation, who is signed in, the content. */
export function Page(
  props: {
    title: string;
    /** The page's name for /static/app.js (`data-page`). */
    page: string;
    context: PageContext;
    children?: Child;
    /** Also load uPlot. */
    chart?: boolean;
  },
) {
  const { viewer } = props.context;
  return (
    <>
      {raw("<!DOCTYPE html>")}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>{props.title} · wgsync</title>
          <link rel="stylesheet" href="/static/site.css" />
          {props.chart && (
            <link
              rel="stylesheet"
              href="/static/uPlot.min.css"
            />
          )}
          {props.chart && <script src="/static/uPlot.iife.min.js" defer />}
          <script src="/static/app.js" defer />
        </head>
        <body data-page={props.page}>
          <header>
            <strong>wgsync</strong>
            <nav>
              {NAV.map(([href, label]) => <a key={href} href={href}>{label}
              </a>)}
            </nav>
            <span class="who">
              {viewer.admin !== undefined
                ? <span id="admin">admin: {viewer.admin}</span>
                : <span id="reader">read-only</span>}
            </span>
          </header>
          <main>
            <h1>{props.title}</h1>
            {props.children}
          </main>
        </body>
      </html>
    </>
  );
}

/** The CSRF field of an admin's form. */
export function CsrfField(props: { context: PageContext }) {
  return <input type="hidden" name="_csrf" value={props.context.csrf ?? ""} />;
}

/** A result page after a change (works without JavaScript). */
export function ResultPage(
  props: {
    context: PageContext;
    title: string;
    lines: string[];
    back: string;
    failed?: boolean;
  },
) {
  return (
    <Page title={props.title} page="result" context={props.context}>
      <div class={props.failed ? "result failed" : "result"}>
        {props.lines.map((line, i) => <p key={i}>{line}</p>)}
      </div>
      <p>
        <a href={props.back}>Back</a>
      </p>
    </Page>
  );
}

/** A number for a table cell. */
export function formatNumber(value: number | undefined, unit = ""): string {
  if (value === undefined || !Number.isFinite(value)) return "—";
  if (unit === "s") return formatSeconds(value);
  const text = Math.abs(value) >= 100 || Number.isInteger(value)
    ? Math.round(value).toString()
    : value.toFixed(1);
  return unit === "/min" ? `${text}/min` : text;
}

/** Seconds in a readable unit. */
export function formatSeconds(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** An ISO time without milliseconds, UTC. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
