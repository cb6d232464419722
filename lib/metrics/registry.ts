/**
 * One Prometheus registry per role, with prom-client's default process
 * metrics (CPU, memory, file descriptors, event loop lag, heap) named
 * `wgsync_process_*` / `wgsync_nodejs_*`.
 *
 * Naming convention for a role's own metrics: `wgsync_<role>_<what>`, with
 * `_total` on counters and the unit last (`_seconds`, `_bytes`), e.g.
 * `wgsync_ldap_events_total{type}`. The role creates them on the registry:
 *
 * ```ts
 * import { Counter } from "prom-client";
 * const registry = createRegistry({ role: "ldap" });
 * const events = new Counter({
 *   name: "wgsync_ldap_events_total",
 *   help: "Events sent, by type.",
 *   labelNames: ["type"],
 *   registers: [registry],
 * });
 * ```
 *
 * prom-client reads memory and file descriptors from `/proc/self`, which
 * Deno opens only with `--allow-all`: under a role's permissions it would
 * report 0. Those four are replaced: `wgsync_process_resident_memory_bytes`
 * comes from `Deno.memoryUsage()` (no permission needed); virtual memory,
 * VmData and open file descriptors are left out rather than shown as 0.
 *
 * prom-client is imported when the first registry is made, not with this
 * module: loading it (CommonJS, with its dependencies) takes about 20 ms of
 * a role's start-up, which wgsync-ldap defers to the first scrape
 * (`serveMetrics` takes a function making the registry).
 *
 * @module
 */
import type { Registry } from "prom-client";

/** The prefix of every wgsync metric. */
export const METRIC_PREFIX = "wgsync_";

/** prom-client's default metrics read from /proc/self (see the module doc). */
const PROC_SELF_METRICS = [
  "process_resident_memory_bytes",
  "process_virtual_memory_bytes",
  "process_heap_bytes",
  "process_open_fds",
  "process_max_fds",
];

/** Options for {@linkcode createRegistry}. */
export interface CreateRegistryOptions {
  /** The role's module name, e.g. `"ldap"`; exported as `wgsync_role_info{role}`. */
  role: string;
  /** Collect prom-client's default process metrics. @default {true} */
  defaultMetrics?: boolean;
}

/**
 * A new registry for `role`, holding the default process metrics and
 * `wgsync_role_info{role="<role>"} 1`. Rejects with a `RangeError` when the
 * role name is not `[a-z][a-z0-9_]*`.
 */
export async function createRegistry(
  options: CreateRegistryOptions,
): Promise<Registry> {
  if (!/^[a-z][a-z0-9_]*$/.test(options.role)) {
    throw new RangeError(
      `Cannot create a metrics registry as the role name is not [a-z][a-z0-9_]*: value is "${options.role}"`,
    );
  }
  const { collectDefaultMetrics, Gauge, Registry } = await import(
    "prom-client"
  );
  const registry = new Registry();
  if (options.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
    for (const name of PROC_SELF_METRICS) {
      registry.removeSingleMetric(`${METRIC_PREFIX}${name}`);
    }
    new Gauge({
      name: `${METRIC_PREFIX}process_resident_memory_bytes`,
      help: "Resident memory size in bytes.",
      registers: [registry],
      collect() {
        this.set(Deno.memoryUsage().rss);
      },
    });
  }
  new Gauge({
    name: `${METRIC_PREFIX}role_info`,
    help: "The wgsync role this process runs (always 1).",
    labelNames: ["role"],
    registers: [registry],
  }).set({ role: options.role }, 1);
  return registry;
}
