/**
 * A LogTape sink sending each record to systemd-journald over the native
 * journal protocol, with every structured property as a `WGSYNC_*` field.
 *
 * Records are converted when logged and sent in order in the background, so
 * logging never waits for journald. When journald does not take a record
 * (socket gone, refused) the record goes to the fallback sink (stderr). At
 * most `maxPending` records wait (journald stalled, or a burst faster than
 * sending, about 30,000 records/s); newer ones are counted and dropped, and
 * the count is logged as a warning when the queue moves again.
 *
 * @module
 */
import type { Drainable, LogRecord, Sink } from "@logtape/logtape";
import { DatagramSender, isMessageTooLong } from "../systemd/datagram.ts";
import {
  DEFAULT_ENTRY_MAX_BYTES,
  encodeJournalEntry,
  fitJournalEntry,
  journalFieldName,
  type JournalFields,
} from "./journal.ts";
import { renderRecord, renderValue } from "./render.ts";
import { waitAtMost } from "../async.ts";

/** Where journald listens for native protocol datagrams. */
export const DEFAULT_JOURNAL_SOCKET = "/run/systemd/journal/socket";

/** The smallest entry size tried after the socket refused larger ones. */
const MIN_ENTRY_BYTES = 16 * 1024;
/** Properties beyond this many are left out (journald takes 1024 fields). */
const MAX_PROPERTIES = 256;
/** How long disposing waits for queued records before closing. */
const DISPOSE_WAIT_MS = 2000;

/** Options for {@linkcode getJournalSink}. */
export interface JournalSinkOptions {
  /** The `SYSLOG_IDENTIFIER` of every entry, e.g. `wgsync-ldap`. */
  identifier: string;
  /** Receives records journald did not take. */
  fallback: Sink;
  /** journald's socket. @default {"/run/systemd/journal/socket"} */
  socket?: string | DatagramSender;
  /** Bytes one entry may take; larger values are cut. @default {200_000} */
  maxEntryBytes?: number;
  /** Records waiting to be sent before newer ones are dropped. @default {10_000} */
  maxPending?: number;
}

/**
 * The journal fields of one record: `MESSAGE`, `PRIORITY`,
 * `SYSLOG_IDENTIFIER`, `LOGTAPE_CATEGORY` (e.g. `wgsync.ldap`), `CODE_FILE`
 * and `CODE_LINE` when the source location was captured, and each property
 * as `WGSYNC_<NAME>` (secrets redacted, errors with their stack).
 */
export function recordToJournalFields(
  record: LogRecord,
  identifier: string,
): JournalFields {
  const rendered = renderRecord(record);
  const fields: JournalFields = {
    MESSAGE: rendered.message,
    PRIORITY: String(rendered.priority),
    SYSLOG_IDENTIFIER: identifier,
    LOGTAPE_CATEGORY: rendered.category.join("."),
  };
  if (record.sourceLocation) {
    fields.CODE_FILE = record.sourceLocation.file;
    fields.CODE_LINE = String(record.sourceLocation.line);
  }
  let count = 0;
  for (const [key, value] of Object.entries(rendered.properties)) {
    if (value === undefined) continue;
    if (++count > MAX_PROPERTIES) break;
    const name = journalFieldName(key);
    fields[name] = value instanceof Uint8Array
      ? value
      : renderValue(value, { stack: true });
  }
  return fields;
}

/**
 * A sink sending to journald. Dispose of it (LogTape's `dispose()`) to flush:
 * that waits up to 2 s for queued records, diverts the rest to the fallback,
 * then closes the socket within a further second. If journald stalled, one
 * send may still be pending and keep the process alive: exit with
 * `Deno.exit()` after disposing.
 */
export function getJournalSink(
  options: JournalSinkOptions,
): Sink & Drainable & AsyncDisposable {
  const { identifier, fallback } = options;
  const sender = typeof options.socket === "object"
    ? options.socket
    : new DatagramSender(options.socket ?? DEFAULT_JOURNAL_SOCKET);
  const maxPending = options.maxPending ?? 10_000;
  let maxBytes = options.maxEntryBytes ?? DEFAULT_ENTRY_MAX_BYTES;
  const queue: { record: LogRecord; fields: JournalFields }[] = [];
  let dropped = 0;
  let failing = false;
  let pumping: Promise<void> | undefined;

  const warn = (message: string) => {
    fallback({
      category: ["wgsync", "lib", "log"],
      level: "warning",
      message: [message],
      rawMessage: message,
      timestamp: Date.now(),
      properties: {},
    });
  };

  const send = async (fields: JournalFields): Promise<void> => {
    for (;;) {
      try {
        await sender.send(
          encodeJournalEntry(fitJournalEntry(fields, maxBytes)),
        );
        return;
      } catch (error) {
        if (!isMessageTooLong(error) || maxBytes <= MIN_ENTRY_BYTES) {
          throw error;
        }
        maxBytes = Math.max(MIN_ENTRY_BYTES, Math.floor(maxBytes / 2));
      }
    }
  };

  const pump = async () => {
    while (queue.length > 0) {
      const { record, fields } = queue.shift()!;
      try {
        if (dropped > 0) {
          const note =
            `${dropped} log records were dropped as ${maxPending} were already waiting to be sent to journald`;
          await send({
            MESSAGE: note,
            PRIORITY: "4",
            SYSLOG_IDENTIFIER: identifier,
          });
          dropped = 0;
        }
        await send(fields);
        failing = false;
      } catch (error) {
        if (!failing) {
          failing = true;
          warn(
            `Cannot send log records to journald at "${sender.socket}": ${
              error instanceof Error ? error.message : String(error)
            }; writing them to stderr until it works again`,
          );
        }
        fallback(record);
      }
    }
  };

  const drain = async () => {
    while (pumping) await pumping;
  };

  const sink = (record: LogRecord) => {
    if (sender.closed) {
      fallback(record);
      return;
    }
    let fields: JournalFields;
    try {
      fields = recordToJournalFields(record, identifier);
    } catch (error) {
      warn(`Cannot convert a log record for journald: ${String(error)}`);
      fallback(record);
      return;
    }
    if (queue.length >= maxPending) {
      dropped++;
      return;
    }
    queue.push({ record, fields });
    pumping ??= pump().finally(() => pumping = undefined);
  };

  return Object.assign(sink, {
    drain,
    async [Symbol.asyncDispose]() {
      await waitAtMost(drain(), DISPOSE_WAIT_MS);
      for (const { record } of queue.splice(0)) fallback(record);
      // A send stuck in a stalled journald cannot be cancelled: it fails (and
      // its record goes to the fallback) only when journald moves or goes.
      await sender.close();
    },
  });
}
