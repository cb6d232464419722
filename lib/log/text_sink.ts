/**
 * Text sinks for when journald's socket is not there: one line per record on
 * stderr, either prefixed `<N>` with the syslog priority (stderr is a journal
 * stream, `JOURNAL_STREAM`) or as readable console lines.
 *
 * @module
 */
import type { LogRecord, Sink } from "@logtape/logtape";
import { type RenderedRecord, renderRecord, renderValue } from "./render.ts";

/** How text lines look. */
export type TextMode = "stderr-priority" | "console";

/** Options for {@linkcode getTextSink}. */
export interface TextSinkOptions {
  /** Writes one line (ending in a newline). @default {a synchronous write to stderr} */
  write?: (line: string) => void;
}

/** A sink writing each record as one line in `mode`; it never throws. */
export function getTextSink(
  mode: TextMode,
  options: TextSinkOptions = {},
): Sink {
  const write = options.write ?? writeStderr;
  const format = mode === "stderr-priority"
    ? formatPriorityLine
    : formatConsoleLine;
  return (record: LogRecord) => {
    try {
      write(`${format(renderRecord(record), placeholders(record))}\n`);
    } catch {
      // Nowhere left to report a failure to write to stderr.
    }
  };
}

/**
 * `<N>message key=value …` for a journal stream: journald takes `<N>` as the
 * priority and adds time and identifier itself. Properties named in `skip`
 * (those already in the message) are left out.
 */
export function formatPriorityLine(
  record: RenderedRecord,
  skip: ReadonlySet<string> = new Set(),
): string {
  return `<${record.priority}>${oneLine(record.message)}${pairs(record, skip)}`;
}

/**
 * `2025-01-31T12:00:00.000Z WARNING wgsync.ldap: message key=value …`;
 * properties named in `skip` (those already in the message) are left out.
 */
export function formatConsoleLine(
  record: RenderedRecord,
  skip: ReadonlySet<string> = new Set(),
): string {
  const time = new Date(record.timestamp).toISOString();
  const level = record.level.toUpperCase();
  const category = record.category.join(".");
  return `${time} ${level} ${category}: ${oneLine(record.message)}${
    pairs(record, skip)
  }`;
}

/** The properties a message template interpolates (`{name}`; `{*}` is all). */
function placeholders(record: LogRecord): Set<string> {
  const names = new Set<string>();
  if (typeof record.rawMessage !== "string") return names;
  for (const [, name] of record.rawMessage.matchAll(/\{([^{}]+)\}/g)) {
    if (name.trim() === "*") return new Set(Object.keys(record.properties));
    names.add(name.trim());
  }
  return names;
}

function pairs(record: RenderedRecord, skip: ReadonlySet<string>): string {
  let text = "";
  for (const [key, value] of Object.entries(record.properties)) {
    if (value === undefined || skip.has(key)) continue;
    text += ` ${key}=${quote(renderValue(value))}`;
  }
  return text;
}

function quote(text: string): string {
  // deno-lint-ignore no-control-regex
  return /^[^\s"=\\\x00-\x1f\x7f]+$/.test(text) ? text : JSON.stringify(text);
}

function oneLine(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\r\n\x00]/g, (c) => JSON.stringify(c).slice(1, -1));
}

function writeStderr(line: string): void {
  let data = new TextEncoder().encode(line);
  while (data.length > 0) data = data.subarray(Deno.stderr.writeSync(data));
}
