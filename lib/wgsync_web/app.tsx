/** @jsxImportSource hono/jsx */
/**
 * The site's HTTP application (hono): security headers on every answer, who
 * is asking, the read-only pages and their live streams, and the static
 * files. State-changing requests are in `changes.tsx`.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { getConnInfo } from "hono/deno";
import { secureHeaders } from "hono/secure-headers";
import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import { registerChanges } from "./changes.tsx";
import { DeadLettersPage, type TargetLetters } from "./dead_letters_page.tsx";
import { EventsPage } from "./events_page.tsx";
import { FIGURES } from "./figures.ts";
import { formatNumber } from "./layout.tsx";
import { type LiveEvent, type LiveFilter, matches } from "./live.ts";
import { OverviewPage, stateText } from "./overview_page.tsx";
import { describeError } from "../role/mod.ts";
import { pageContext, type SiteEnv, type SiteParts } from "./site.ts";
import { STATIC_FILES } from "./static.ts";
import type { StemPage } from "./stems.ts";
import { StemsPage } from "./stems_page.tsx";
import { WorkgroupPage, WorkgroupsPage } from "./workgroup_page.tsx";

const NO_SOCKET =
  "wgsync-ldap's control socket is not configured ([web].ldap_control_socket).";

/** The whole site. */
export function createApp(parts: SiteParts): Hono<SiteEnv> {
  const app = new Hono<SiteEnv>();
  app.use(secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", "data:"],
      connectSrc: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
    },
    xFrameOptions: "DENY",
    referrerPolicy: "same-origin",
    strictTransportSecurity: false,
  }));
  app.use(async (c, next) => {
    const address = getConnInfo(c).remote.address ?? "";
    c.set("viewer", parts.access.viewer(c.req.raw.headers, address));
    c.header("Cache-Control", "no-store");
    await next();
  });

  app.get("/static/:name", (c) => {
    const file = STATIC_FILES.get(c.req.param("name"));
    if (file === undefined) return c.text("not found\n", 404);
    c.header("Cache-Control", "max-age=300");
    return c.body(file.body, 200, { "Content-Type": file.type });
  });

  app.get("/", (c) =>
    c.html(
      <OverviewPage
        context={pageContext(c, parts)}
        states={parts.scraper.states()}
        now={Date.now()}
      />,
    ));
  app.get("/overview.json", (c) => {
    const roles = parts.scraper.states().map((state) => state.name);
    return c.json({
      states: parts.scraper.states(),
      series: { roles, points: parts.scraper.series() },
    });
  });
  app.get("/overview/stream", (c) =>
    streamSSE(c, async (stream) => {
      const unsubscribe = parts.scraper.subscribe((states) => {
        const now = Date.now();
        const rows = states.map((state) => ({
          name: state.name,
          up: state.up,
          text: stateText(state, now),
          cells: Object.fromEntries(
            FIGURES.map((f) => [
              f.key,
              formatNumber(state.figures[f.key], f.unit),
            ]),
          ),
        }));
        stream.writeSSE({ event: "scrape", data: JSON.stringify(rows) })
          .catch(() => {});
      });
      await untilClosed(stream, parts.signal);
      unsubscribe();
    }));

  app.get("/stems", async (c) => {
    const query = c.req.query("q") ?? "";
    let result: StemPage = { stems: [], total: 0, page: 1, pages: 1 };
    let error: string | undefined;
    if (parts.stems === undefined) {
      error = "No stems table is configured ([web].stems_table).";
    } else {
      try {
        result = await parts.stems.search(query, {
          page: Number(c.req.query("page") ?? 1) || 1,
        });
      } catch (e) {
        error = `Cannot read the stems table: ${describeError(e)}`;
      }
    }
    return c.html(
      <StemsPage
        context={pageContext(c, parts)}
        query={query}
        result={result}
        error={error}
      />,
    );
  });

  app.get("/events", (c) => {
    const filter = liveFilter(c);
    return c.html(
      <EventsPage
        context={pageContext(c, parts)}
        filter={filter}
        events={parts.live.recent(filter)}
        since={Date.now()}
        configured={parts.live.configured}
        error={parts.live.lastError}
      />,
    );
  });
  app.get("/events/stream", (c) => {
    const filter = liveFilter(c);
    const since = Number(c.req.query("since"));
    return streamSSE(c, async (stream) => {
      const send = (event: LiveEvent) =>
        stream.writeSSE({
          event: "event",
          id: event.id,
          data: JSON.stringify(event),
        }).catch(() => {});
      const unsubscribe = parts.live.subscribe((event) => {
        if (matches(event, filter)) send(event);
      });
      // What arrived after the page was read and before this stream opened.
      if (Number.isFinite(since)) {
        for (const event of parts.live.recent(filter).reverse()) {
          if (event.receivedAt >= since) send(event);
        }
      }
      await untilClosed(stream, parts.signal);
      unsubscribe();
    });
  });

  app.get("/workgroups", async (c) => {
    const query = c.req.query("q") ?? "";
    let error: string | undefined;
    let workgroups: { name: string; members: number }[] = [];
    if (parts.directory === undefined) {
      error = NO_SOCKET;
    } else {
      try {
        workgroups = await parts.directory.workgroups(query);
      } catch (e) {
        error = describeError(e);
      }
    }
    return c.html(
      <WorkgroupsPage
        context={pageContext(c, parts)}
        query={query}
        workgroups={workgroups}
        error={error}
      />,
    );
  });
  app.get("/workgroup", async (c) => {
    const name = c.req.query("name") ?? "";
    let error: string | undefined;
    let members;
    if (parts.directory === undefined) {
      error = NO_SOCKET;
    } else {
      try {
        members = await parts.directory.members(name);
      } catch (e) {
        error = describeError(e);
      }
    }
    return c.html(
      <WorkgroupPage
        context={pageContext(c, parts)}
        name={name}
        events={parts.live.recent({ workgroup: name, exact: true })}
        since={Date.now()}
        members={members}
        error={error}
        canResync={parts.controlSocket !== undefined}
      />,
    );
  });

  app.get("/dead-letters", async (c) => {
    const targets: TargetLetters[] = [];
    for (const name of parts.deadLetters?.names ?? []) {
      try {
        targets.push({ name, letters: await parts.deadLetters!.list(name) });
      } catch (error) {
        targets.push({ name, error: describeError(error) });
      }
    }
    return c.html(
      <DeadLettersPage context={pageContext(c, parts)} targets={targets} />,
    );
  });

  registerChanges(app, parts);
  app.notFound((c) => c.text("not found\n", 404));
  app.onError((error, c) => {
    parts.logger.error("Cannot answer {method} {path}: {error}", {
      method: c.req.method,
      path: c.req.path,
      error: describeError(error),
    });
    return c.text(`Cannot answer this request: ${describeError(error)}\n`, 500);
  });
  return app;
}

function liveFilter(c: Context<SiteEnv>): LiveFilter {
  const filter: LiveFilter = {};
  for (const key of ["stem", "workgroup", "type"] as const) {
    const value = c.req.query(key)?.trim();
    if (value) filter[key] = value;
  }
  if (c.req.query("exact") === "true") filter.exact = true;
  return filter;
}

/** Resolves when the client went away or the site stops; sends a comment every 15 s meanwhile. */
async function untilClosed(
  stream: SSEStreamingApi,
  signal: AbortSignal,
): Promise<void> {
  const closed = new Promise<void>((resolve) => {
    stream.onAbort(resolve);
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
  while (!stream.aborted && !stream.closed && !signal.aborted) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 15_000);
    });
    await Promise.race([tick, closed]);
    clearTimeout(timer);
    if (stream.aborted || stream.closed || signal.aborted) break;
    await stream.write(": keep-alive\n\n").catch(() => {});
  }
}
