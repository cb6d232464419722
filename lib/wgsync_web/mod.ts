/**
 * wgsync-web, the operators' site: wiring. Builds the parts from the `[web]`
 * and `[aws]` sections, serves the site, scrapes the roles, follows the
 * site's queue, reports readiness (`READY=1` once listening) and status to
 * systemd, serves its own `/metrics` and `/healthz`, and stops cleanly when
 * the signal aborts.
 *
 * @module
 */
import { Counter, Gauge } from "prom-client";
import type { z } from "zod";
import type { awsSchema, webSchema } from "../config/schema.ts";
import {
  createDynamoDbClient,
  createSqsClient,
  loadAwsSettings,
} from "../aws/mod.ts";
import { abortPromise } from "../async.ts";
import { getLogger } from "../log/mod.ts";
import { createRegistry, serveMetrics } from "../metrics/mod.ts";
import type { Notifier } from "../systemd/mod.ts";
import { Access } from "./access.ts";
import { createApp } from "./app.tsx";
import { DeadLetters } from "./dead_letters.ts";
import { Directory } from "./directory.ts";
import { LIVE_WAIT_SECONDS, LiveEvents } from "./live.ts";
import { Scraper } from "./scrape.ts";
import { StemTable } from "./stems.ts";

/** Options for {@linkcode runWeb}. */
export interface RunWebOptions {
  web: z.infer<typeof webSchema>;
  aws: z.infer<typeof awsSchema>;
  notifier: Notifier;
  /** Stops the site when aborted. */
  signal: AbortSignal;
  /** Called with the bound address once listening (tests use port 0). */
  onListen?: (address: Deno.NetAddr) => void;
}

const logger = getLogger("web");

/** Runs the site until `signal` aborts. */
export async function runWeb(options: RunWebOptions): Promise<void> {
  const { web, notifier, signal } = options;
  const settings = await loadAwsSettings(options.aws);
  const sqs = createSqsClient(settings);
  // The live feed long-polls: its requests must outlast the poll.
  const liveSqs = createSqsClient({
    ...settings,
    requestTimeoutMs: (LIVE_WAIT_SECONDS + 10) * 1000,
  });
  const dynamo = createDynamoDbClient(settings);
  const stop = new AbortController();
  signal.addEventListener("abort", () => stop.abort(), { once: true });
  try {
    const scraper = new Scraper(web.roles, {
      intervalMs: web.scrape_interval_seconds * 1000,
      historyMs: web.history_seconds * 1000,
    });
    const live = new LiveEvents(liveSqs, web.queue_url);
    const app = createApp({
      access: new Access({
        header: web.admin_header,
        trustedProxies: web.trusted_proxies,
        admins: web.admins,
      }),
      scraper,
      live,
      stems: web.stems_table === undefined
        ? undefined
        : new StemTable(dynamo, web.stems_table),
      directory: web.ldap_control_socket === undefined
        ? undefined
        : new Directory(web.ldap_control_socket),
      deadLetters: web.targets.length === 0 ? undefined : new DeadLetters(
        sqs,
        web.targets.map((t) => ({ name: t.name, queueUrl: t.queue_url })),
      ),
      controlSocket: web.ldap_control_socket,
      logger,
      signal: stop.signal,
    });
    const registry = await createRegistry({ role: "web" });
    const rolesUp = new Gauge({
      name: "wgsync_web_roles_up",
      help: "Watched roles that answered their last scrape.",
      registers: [registry],
    });
    new Gauge({
      name: "wgsync_web_live_events",
      help: "Live events kept in memory.",
      registers: [registry],
      collect() {
        this.set(live.size);
      },
    });
    const received = new Counter({
      name: "wgsync_web_events_total",
      help: "Events received on the site's own queue.",
      registers: [registry],
    });
    live.subscribe(() => received.inc());
    const [hostname, port] = splitListen(web.listen);
    const server = Deno.serve({
      hostname,
      port,
      signal: stop.signal,
      onListen: () => {},
    }, app.fetch);
    const url = `http://${server.addr.hostname}:${server.addr.port}/`;
    logger.info("Listening on {url}", { url });
    options.onListen?.(server.addr);
    serveMetrics(registry, {
      listen: web.metrics_listen,
      signal: stop.signal,
      health: () => ({
        ok: true,
        detail: { liveQueue: live.lastError ?? "ok" },
      }),
    });
    scraper.subscribe((states) => {
      const up = states.filter((s) => s.up).length;
      rolesUp.set(up);
      notifier.status(
        `serving ${url}; ${up}/${states.length} roles up${
          live.lastError ? `; live queue: ${live.lastError}` : ""
        }`,
      );
    });
    await notifier.ready(`serving ${url}`);
    const work = Promise.all([scraper.run(stop.signal), live.run(stop.signal)]);
    await abortPromise(stop.signal);
    await Promise.all([work, server.finished]);
  } finally {
    stop.abort();
    sqs.destroy();
    liveSqs.destroy();
    dynamo.destroy();
  }
}

function splitListen(listen: string): [string, number] {
  const colon = listen.lastIndexOf(":");
  return [listen.slice(0, colon), Number(listen.slice(colon + 1))];
}
