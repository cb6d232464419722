/**
 * A small program for the logging tests: reads a plan as JSON on stdin, sets
 * up logging with `setupLogging`, logs the plan's records, prints the chosen
 * sink as JSON on stdout and flushes with LogTape's `dispose()`.
 *
 * Plan: `{ setup: LoggingOptions, records: [{ level, category?, message,
 * properties? }] }`. Property values may be encoded: `{ "$error": { message,
 * cause? } }` becomes an Error, `{ "$repeat": [text, count] }` a long string,
 * `{ "$bytes": [numbers] }` a Uint8Array.
 *
 * @module
 */
import { dispose, getLogger, type LogLevel } from "@logtape/logtape";
import { type LoggingOptions, setupLogging } from "../../lib/log/mod.ts";

/** One record to log. */
export interface PlannedRecord {
  level: LogLevel;
  /** @default {["wgsync", "test"]} */
  category?: string[];
  message: string;
  properties?: Record<string, unknown>;
}

/** What the emitter does. */
export interface Plan {
  setup: LoggingOptions;
  records: PlannedRecord[];
}

function decode(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(decode);
  const object = value as Record<string, unknown>;
  if ("$error" in object) {
    const spec = object.$error as { message: string; cause?: string };
    return new Error(
      spec.message,
      spec.cause === undefined ? undefined : { cause: new Error(spec.cause) },
    );
  }
  if ("$repeat" in object) {
    const [text, count] = object.$repeat as [string, number];
    return text.repeat(count);
  }
  if ("$bytes" in object) return new Uint8Array(object.$bytes as number[]);
  return Object.fromEntries(
    Object.entries(object).map(([key, item]) => [key, decode(item)]),
  );
}

if (import.meta.main) {
  const plan = JSON.parse(
    await new Response(Deno.stdin.readable).text(),
  ) as Plan;
  const { sink } = await setupLogging(plan.setup);
  for (const record of plan.records) {
    const logger = getLogger(record.category ?? ["wgsync", "test"]);
    const properties = decode(record.properties ?? {}) as Record<
      string,
      unknown
    >;
    logger[record.level](record.message, properties);
  }
  console.log(JSON.stringify({ sink }));
  await dispose();
}
