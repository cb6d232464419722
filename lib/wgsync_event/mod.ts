/**
 * wgsync-event, the Event Generator: the channel server's handler that
 * checks each event, looks its stem up in DynamoDB through a dogpile cache
 * (creating new stems' items), and publishes to SNS FIFO — batched, through
 * S3 when too large — acknowledging only what SNS accepted. Only wgsync-event
 * uses this folder.
 *
 * @module
 */

export {
  type EventGeneratorOptions,
  type EventSection,
  runEventGenerator,
} from "./generator.ts";
export * from "./message.ts";
export * from "./metrics.ts";
export * from "./pipeline.ts";
export * from "./publisher.ts";
export * from "./retry.ts";
export * from "./start_check.ts";
export * from "./status.ts";
export * from "./stems.ts";
