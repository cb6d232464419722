/**
 * The `[web]` section: wgsync-web, the operators' site.
 *
 * @module
 */
import { z } from "zod";
import { absolutePath, hostPort, metricsListen, seconds } from "./values.ts";

/** A short name: a role, a remctl target. */
const shortName = z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, {
  message: 'expected a short lower-case name such as "ldap"',
});

/** An `http://` or `https://` URL. */
const httpUrl = z.string().regex(/^https?:\/\/[^/?#]+\/?$/, {
  message: 'expected a base URL such as "http://127.0.0.1:9101"',
});

/** An HTTP header name (RFC 9110 token). */
const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, {
  message: 'expected an HTTP header name such as "X-Remote-User"',
});

/** A role whose `/healthz` and `/metrics` the overview scrapes. */
const scrapedRole = z.strictObject({
  /** Shown on the overview, e.g. `"ldap"`. */
  name: shortName,
  /** The role's `metrics_listen` as a base URL, e.g. `"http://127.0.0.1:9101"`. */
  url: httpUrl,
});

/** A remctl target whose dead-letter queue the site shows. */
const deadLetterTarget = z.strictObject({
  name: shortName,
  /** The target's source queue; its redrive policy names the dead-letter queue. */
  queue_url: z.url(),
});

const uniqueNames = (items: { name: string }[]) =>
  new Set(items.map((item) => item.name)).size === items.length;

/** wgsync-web, the operators' site. */
export const webSchema = z.strictObject({
  /** Where the site listens; loopback unless a reverse proxy elsewhere needs it. */
  listen: hostPort.default("127.0.0.1:8080"),
  /** Loopback `host:port` for `/metrics` and `/healthz`; off when unset. */
  metrics_listen: metricsListen,
  /** The roles shown on the overview. */
  roles: z.array(scrapedRole).default([]).refine(uniqueNames, {
    message: "role names must be unique",
  }),
  /** How often each role is scraped. */
  scrape_interval_seconds: seconds.default(5),
  /** How much scraped history is kept in memory (the chart's span). */
  history_seconds: seconds.default(3600),
  /** The header the trusted reverse proxy sets to the signed-in user. */
  admin_header: headerName.default("X-Remote-User"),
  /** Peer addresses whose `admin_header` is believed (the reverse proxy). */
  trusted_proxies: z.array(z.union([z.ipv4(), z.ipv6()])).default([]),
  /** Users (as the proxy names them) who may change things. */
  admins: z.array(z.string().min(1)).default([]),
  /** The DynamoDB stems table (as `[event].stems_table`). */
  stems_table: z.string().min(3).optional(),
  /** The site's own SQS FIFO queue subscribed to the topic (live events). */
  queue_url: z.url().optional(),
  /** The remctl targets whose dead letters the site shows. */
  targets: z.array(deadLetterTarget).default([]).refine(uniqueNames, {
    message: "target names must be unique",
  }),
  /** wgsync-ldap's control socket: workgroups, members and "snapshot WORKGROUP". */
  ldap_control_socket: absolutePath.optional(),
}).refine(
  (web) => web.admins.length === 0 || web.trusted_proxies.length > 0,
  {
    message:
      "admins are only recognised through a trusted proxy: set trusted_proxies",
    path: ["trusted_proxies"],
  },
);
