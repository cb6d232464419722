/**
 * What the site's routes share: the parts they read and change, who is
 * asking, and small helpers.
 *
 * @module
 */
import type { Context } from "hono";
import type { Logger } from "../log/mod.ts";
import type { Access, Viewer } from "./access.ts";
import type { DeadLetters } from "./dead_letters.ts";
import type { Directory } from "./directory.ts";
import type { PageContext } from "./layout.tsx";
import type { LiveEvents } from "./live.ts";
import type { Scraper } from "./scrape.ts";
import type { StemTable } from "./stems.ts";

/** What the site's pages read and change. */
export interface SiteParts {
  access: Access;
  scraper: Scraper;
  live: LiveEvents;
  stems?: StemTable;
  directory?: Directory;
  deadLetters?: DeadLetters;
  /** wgsync-ldap's control socket. */
  controlSocket?: string;
  logger: Logger;
  /** Aborted when the site stops: live streams end. */
  signal: AbortSignal;
}

/** The hono environment: who is asking. */
export type SiteEnv = { Variables: { viewer: Viewer } };

/** The page context of a request. */
export function pageContext(
  c: Context<SiteEnv>,
  parts: SiteParts,
): PageContext {
  const viewer = c.get("viewer");
  return {
    viewer,
    csrf: viewer.admin === undefined
      ? undefined
      : parts.access.csrfToken(viewer.admin),
  };
}
