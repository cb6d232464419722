/**
 * The `[web]` section: wgsync-web, the operators' site.
 *
 * @module
 */
import { z } from "zod";
import { hostPort, metricsListen } from "./values.ts";

/** wgsync-web, the operators' site. */
export const webSchema = z.strictObject({
  listen: hostPort.default("127.0.0.1:8080"),
  /** Loopback `host:port` for `/metrics` and `/healthz`; off when unset. */
  metrics_listen: metricsListen,
});
