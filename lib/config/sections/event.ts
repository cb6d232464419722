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
  /**
   * The default topic. Any SNS topic ARN passes here; that it is a FIFO
   * topic (FifoTopic "true") is checked against SNS when the role starts.
   */
  topic_arn: z.string().regex(
    /^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/,
    { message: "expected the ARN of an SNS topic" },
  ),
  stem_cache_seconds: seconds.default(300),
  /** Loopback `host:port` for `/metrics` and `/healthz`; off when unset. */
  metrics_listen: metricsListen,
  /** S3 bucket for bodies over `max_message_bytes` (claim-check pointers). */
  claim_check_bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
    message: "expected an S3 bucket name (3-63 characters of a-z 0-9 . -)",
  }),
  /** Largest message body published as is; larger ones go through S3. */
  max_message_bytes: z.number().int().min(1024).max(1024 * 1024).default(
    262_144,
  ),
});
