/**
 * Metrics for every wgsync role: a prom-client registry per role
 * ({@linkcode createRegistry}) served with a health report on a loopback
 * address ({@linkcode serveMetrics}), off unless `metrics_listen` is set in
 * the role's section.
 *
 * ```ts
 * const registry = await createRegistry({ role: "event" });
 * serveMetrics(registry, {
 *   listen: config.event.metrics_listen,
 *   health: () => ({ ok: connected, detail: { outboxDepth } }),
 *   signal,
 * });
 * ```
 *
 * A role that wants prom-client loaded only when scraped passes a function
 * making the registry instead (as wgsync-ldap does).
 *
 * @module
 */
export {
  createRegistry,
  type CreateRegistryOptions,
  METRIC_PREFIX,
} from "./registry.ts";
export {
  type Health,
  type RegistrySource,
  serveMetrics,
  type ServeMetricsOptions,
} from "./server.ts";
export {
  isLoopbackHost,
  type ListenAddress,
  parseListen,
  type ParseListenOptions,
} from "./listen.ts";
