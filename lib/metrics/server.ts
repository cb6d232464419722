/**
 * The metrics listener: `GET /metrics` (Prometheus text format) and
 * `GET /healthz` (JSON; 200 when healthy, 503 otherwise) on a loopback
 * address, served by `Deno.serve`.
 *
 * @module
 */
import type { Registry } from "prom-client";
import { getLogger } from "../log/mod.ts";
import { parseListen } from "./listen.ts";

/** What `/healthz` reports. */
export interface Health {
  /** Whether the role does its work (200), or not (503). */
  ok: boolean;
  /** Anything an operator may want beside it, e.g. the outbox depth. */
  detail?: Record<string, unknown>;
}

/** Options for {@linkcode serveMetrics}. */
export interface ServeMetricsOptions {
  /**
   * `host:port` to listen on, e.g. `"127.0.0.1:9101"`; port 0 picks a free
   * port. No listener when unset. @default {undefined}
   */
  listen?: string;
  /** The role's health, asked on every `/healthz`. @default {() => ({ ok: true })} */
  health?: () => Health | Promise<Health>;
  /** Stops the listener when aborted. @default {undefined} */
  signal?: AbortSignal;
  /**
   * Accept a `listen` address other hosts can reach (the metrics and health
   * details are not authenticated). @default {false}
   */
  allowNonLoopback?: boolean;
}

const logger = getLogger(["lib", "metrics"]);

/**
 * What {@linkcode serveMetrics} serves: a registry, or a function making it
 * (called at the first `/metrics`, then its result reused) so that
 * prom-client is not loaded at start-up.
 */
export type RegistrySource = Registry | (() => Promise<Registry>);

/**
 * Serves `registry` and `health` on `options.listen` until `signal` aborts.
 * Returns the server (its `addr` holds the bound port), or `undefined` when
 * no address is configured. Throws a `RangeError` naming the address when it
 * is not `host:port` or not loopback (unless `allowNonLoopback`).
 */
export function serveMetrics(
  registry: RegistrySource,
  options: ServeMetricsOptions = {},
): Deno.HttpServer<Deno.NetAddr> | undefined {
  if (options.listen === undefined) return undefined;
  const { hostname, port } = parseListen(options.listen, options);
  const health = options.health ?? (() => ({ ok: true }));
  let made: Promise<Registry> | undefined;
  const source = typeof registry === "function"
    ? () => made ??= registry()
    : () => Promise.resolve(registry);
  return Deno.serve({
    hostname,
    port,
    signal: options.signal,
    onListen: (addr) => {
      logger.info("Serving metrics on {hostname}:{port}", {
        hostname: addr.hostname,
        port: addr.port,
      });
    },
    onError: (error) => {
      logger.error("Cannot answer a metrics request: {error}", { error });
      return new Response("internal error\n", { status: 500 });
    },
  }, (request) => handle(request, source, health));
}

async function handle(
  request: Request,
  source: () => Promise<Registry>,
  health: () => Health | Promise<Health>,
): Promise<Response> {
  const { pathname } = new URL(request.url);
  if (pathname !== "/metrics" && pathname !== "/healthz") {
    return new Response("not found\n", { status: 404 });
  }
  if (request.method !== "GET") {
    return new Response("method not allowed\n", {
      status: 405,
      headers: { allow: "GET" },
    });
  }
  if (pathname === "/metrics") {
    const registry = await source();
    return new Response(await registry.metrics(), {
      headers: { "content-type": registry.contentType },
    });
  }
  let report: Health;
  try {
    report = await health();
  } catch (error) {
    report = { ok: false, detail: { error: String(error) } };
  }
  return Response.json(report, { status: report.ok ? 200 : 503 });
}
