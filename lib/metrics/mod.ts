/**
 * Metrics for every wgsync role: a prom-client registry per role
 * ({@linkcode createRegistry}) served with a health report on a loopback
 * address ({@linkcode serveMetrics}), off unless `metrics_listen` is set in
 * the role's section.
 *
 * ```ts
 * const registry = createRegistry({ role: "ldap" });
 * serveMetrics(registry, {
 *   listen: config.ldap.metrics_listen,
 *   health: () => ({ ok: connected, detail: { outboxDepth } }),
 *   signal,
 * });
 * ```
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
  serveMetrics,
  type ServeMetricsOptions,
} from "./server.ts";
export {
  isLoopbackHost,
  type ListenAddress,
  parseListen,
  type ParseListenOptions,
} from "./listen.ts";
