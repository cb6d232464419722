/**
 * Turning a LogTape record into what every sink writes: the message as text
 * with secrets blanked, the redacted properties, and a syslog priority.
 *
 * @module
 */
import type { LogLevel, LogRecord } from "@logtape/logtape";
import {
  isSecretName,
  REDACTED,
  redactProperties,
  redactValue,
} from "./redact.ts";
import { printable } from "./printable.ts";

/** The syslog priority of each LogTape level. */
export const PRIORITIES: Readonly<Record<LogLevel, number>> = {
  trace: 7, // debug
  debug: 7, // debug
  info: 6, // info
  warning: 4, // warning
  error: 3, // err
  fatal: 2, // crit
};

/**
 * A property that sets the syslog priority (0–7) of one record instead of
 * its level's, e.g. `logger.fatal("…", { journalPriority: 0 })` for emerg or
 * `logger.info("…", { journalPriority: 5 })` for notice. It is not logged
 * as a field itself.
 */
export const PRIORITY_PROPERTY = "journalPriority";

/** A record ready to be written. */
export interface RenderedRecord {
  level: LogLevel;
  category: readonly string[];
  /** Milliseconds since the epoch. */
  timestamp: number;
  /** The message with values interpolated and secrets blanked. */
  message: string;
  /** The properties with secrets redacted. */
  properties: Record<string, unknown>;
  /** The syslog priority, 0 (emerg) to 7 (debug). */
  priority: number;
}

/** Renders a record: message text, redacted properties, priority. */
export function renderRecord(record: LogRecord): RenderedRecord {
  const { [PRIORITY_PROPERTY]: wanted, ...rest } = record.properties;
  const { properties, secrets } = redactProperties(rest);
  const parts = record.message.map((part, index) => {
    if (index % 2 === 0) return String(part);
    // Values may come from a peer: no control characters reach the log.
    if (part !== null && typeof part === "object") {
      return printable(renderValue(redactValue(part, secrets)));
    }
    const text = renderValue(part);
    return secrets.has(text) ? REDACTED : printable(text);
  });
  const priority = typeof wanted === "number" && Number.isInteger(wanted) &&
      wanted >= 0 && wanted <= 7
    ? wanted
    : PRIORITIES[record.level];
  return {
    level: record.level,
    category: record.category,
    timestamp: record.timestamp,
    message: parts.join(""),
    properties,
    priority,
  };
}

/** Options for {@linkcode renderValue}. */
export interface RenderValueOptions {
  /** Render errors with their stack traces (several lines). @default {false} */
  stack?: boolean;
}

/**
 * A value as text: strings as they are, errors as `Name: message` with their
 * causes, dates in ISO 8601, other objects as JSON with secret-looking keys
 * redacted and cycles cut.
 */
export function renderValue(
  value: unknown,
  options: RenderValueOptions = {},
): string {
  if (typeof value === "string") return value;
  if (value instanceof Error) return renderError(value, options.stack ?? false);
  if (value instanceof Date) {
    return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
  }
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (value === null || typeof value !== "object") return String(value);
  try {
    return JSON.stringify(value, jsonReplacer()) ?? String(value);
  } catch {
    return Deno.inspect(value, { depth: 4 });
  }
}

function renderError(error: Error, stack: boolean): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    if (current instanceof Error) {
      parts.push(
        stack && current.stack
          ? current.stack
          : `${current.name}: ${current.message}`,
      );
      current = current.cause;
    } else {
      parts.push(renderValue(current));
      current = undefined;
    }
  }
  return parts.join(stack ? "\nCaused by: " : ": caused by: ");
}

function jsonReplacer() {
  const ancestors: unknown[] = [];
  return function (this: unknown, key: string, value: unknown): unknown {
    if (key !== "" && isSecretName(key)) return REDACTED;
    if (typeof value === "bigint") return value.toString();
    if (value instanceof Error) return renderError(value, false);
    if (value instanceof Map) return Object.fromEntries(value);
    if (value instanceof Set) return [...value];
    if (value instanceof Uint8Array) return `<${value.length} bytes>`;
    if (value === null || typeof value !== "object") return value;
    while (ancestors.length > 0 && ancestors.at(-1) !== this) ancestors.pop();
    if (ancestors.includes(value)) return "[Circular]";
    ancestors.push(value);
    return value;
  };
}
