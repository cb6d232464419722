/**
 * The `[remctl]` section: wgsync-remctl, the Remctl Generator.
 *
 * @module
 */
import { z } from "zod";
import { absolutePath, metricsListen, seconds } from "./values.ts";

/** wgsync-remctl, the Remctl Generator. */
export const remctlSchema = z.strictObject({
  queue_urls: z.array(z.url()).min(1),
  ccache: absolutePath,
  server: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(4373),
  service_principal: z.string().optional(),
  command: z.array(z.string().min(1)).min(1),
  timeout_seconds: seconds.default(60),
  /** Loopback `host:port` for `/metrics` and `/healthz`; off when unset. */
  metrics_listen: metricsListen,
});
