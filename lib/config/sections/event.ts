/**
 * The `[event]` section: wgsync-event, the Event Generator.
 *
 * @module
 */
import { z } from "zod";
import { metricsListen, seconds } from "./values.ts";

/** wgsync-event, the Event Generator. */
export const eventSchema = z.strictObject({
  stems_table: z.string().min(3),
  topic_arn: z.string().regex(/^arn:aws[a-z-]*:sns:[^:]+:[0-9]{12}:.+\.fifo$/, {
    message: "expected the ARN of an SNS FIFO topic",
  }),
  stem_cache_seconds: seconds.default(300),
  /** Loopback `host:port` for `/metrics` and `/healthz`; off when unset. */
  metrics_listen: metricsListen,
});
