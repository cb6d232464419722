/**
 * Logging for every wgsync role: LogTape, sending to journald over the native
 * journal protocol, so `journalctl -o json` shows each structured property as
 * a field (`{ workgroup, eventId }` → `WGSYNC_WORKGROUP`, `WGSYNC_EVENT_ID`).
 *
 * ```ts
 * await setupLogging({ identifier: "wgsync-ldap", level: "info" });
 * const logger = getLogger("ldap"); // a role; a library: getLogger(["lib", "ldap"])
 * logger.info("Sent {eventId} for {workgroup}", { eventId, workgroup });
 * // at exit: await dispose() from "@logtape/logtape" flushes the journal queue
 * ```
 *
 * Properties whose names look secret (password, token, secret, …Key; see
 * `redact.ts`) are logged as `[redacted]`. Never write secret values into
 * message text or error messages: those cannot be recognised.
 *
 * Where records go, decided once by {@linkcode setupLogging}:
 * - `"journal"`: journald's socket takes datagrams. Records journald refuses
 *   later are written to stderr instead.
 * - `"stderr-priority"`: no socket, but `JOURNAL_STREAM` names stderr (its
 *   `<dev>:<ino>`): lines `<N>message key=value …` on stderr.
 * - `"console"`: otherwise, readable lines
 *   `time LEVEL category: message key=value …` on stderr.
 *
 * Permissions: `--allow-write` and `--allow-net=unix:` for the journal
 * socket, `--allow-env=JOURNAL_STREAM` (unreadable counts as unset), and
 * `--unstable-net` (deno.json). No read permission is needed: the socket is
 * probed with an empty datagram, which journald ignores.
 *
 * @module
 */
import {
  configure,
  getLogger as getLogTapeLogger,
  isLogLevel,
  type Logger,
  type LogLevel,
  type Sink,
} from "@logtape/logtape";
import { fstatSync } from "node:fs";
import { DatagramSender } from "../systemd/datagram.ts";
import { DEFAULT_JOURNAL_SOCKET, getJournalSink } from "./journal_sink.ts";
import { getTextSink, type TextMode } from "./text_sink.ts";

export type { Logger, LogLevel };
export {
  encodeJournalEntry,
  fitJournalEntry,
  journalFieldName,
} from "./journal.ts";
export {
  DEFAULT_JOURNAL_SOCKET,
  recordToJournalFields,
} from "./journal_sink.ts";
import { waitAtMost } from "../async.ts";
import { readEnv } from "../env.ts";
export { isSecretName, REDACTED } from "./redact.ts";
export { PRIORITIES, PRIORITY_PROPERTY } from "./render.ts";
export { printable } from "./printable.ts";

/** Options for {@linkcode setupLogging}. */
export interface LoggingOptions {
  /** `SYSLOG_IDENTIFIER` of every entry, e.g. `wgsync-ldap`. */
  identifier: string;
  /** The lowest level logged. @default {"info"} */
  level?: LogLevel;
  /** journald's native socket. @default {"/run/systemd/journal/socket"} */
  journalSocket?: string;
  /** Where `JOURNAL_STREAM` is read. @default {the process environment} */
  env?: Record<string, string | undefined>;
}

/** Which sink {@linkcode setupLogging} chose. */
export interface LoggingSetup {
  sink: "journal" | TextMode;
  /**
   * Resolves once every record logged so far was handed to journald (the
   * journal sink sends from a queue); at once for a text sink.
   */
  flush(): Promise<void>;
}

/** How long the journal probe may take before the socket counts as there. */
const PROBE_WAIT_MS = 1000;

/**
 * Configures LogTape for the process (replacing any earlier configuration):
 * every logger at `level` or above, and LogTape's own warnings, go to
 * journald, or to stderr when journald is not there. Throws a TypeError for
 * an invalid option.
 */
export async function setupLogging(
  options: LoggingOptions,
): Promise<LoggingSetup> {
  const { identifier, level = "info" } = options;
  if (identifier === "" || /[\s=]/.test(identifier)) {
    throw new TypeError(
      `Cannot set up logging as the identifier is not one word: identifier is ${
        JSON.stringify(identifier)
      }`,
    );
  }
  if (!isLogLevel(level)) {
    throw new TypeError(
      `Cannot set up logging as the level is unknown: level is ${
        JSON.stringify(level)
      } (expected trace, debug, info, warning, error or fatal)`,
    );
  }
  const socket = options.journalSocket ?? DEFAULT_JOURNAL_SOCKET;
  if (socket === "") {
    throw new TypeError(
      'Cannot set up logging as the journal socket is empty: journalSocket is ""',
    );
  }
  const journalStream = options.env
    ? options.env.JOURNAL_STREAM
    : readEnv("JOURNAL_STREAM");
  const textMode: TextMode = isStderr(journalStream)
    ? "stderr-priority"
    : "console";
  const text = getTextSink(textMode);
  const probe = await probeJournal(socket);
  const sender = "sender" in probe ? probe.sender : undefined;
  const journal = sender
    ? getJournalSink({ identifier, fallback: text, socket: sender })
    : undefined;
  const sink: Sink = journal ?? text;
  await configure({
    reset: true,
    sinks: { main: sink },
    loggers: [
      { category: [], sinks: ["main"], lowestLevel: level },
      {
        category: ["logtape", "meta"],
        sinks: ["main"],
        parentSinks: "override",
        lowestLevel: "warning",
      },
    ],
  });
  if ("error" in probe && !isMissing(probe.error)) {
    // journald's socket is there but unusable (permissions, --unstable-net).
    getLogger(["lib", "log"]).warning(
      "Cannot log to journald at {socket}, logging to stderr: {error}",
      {
        socket,
        error: probe.error instanceof Error
          ? probe.error.message
          : String(probe.error),
      },
    );
  }
  return {
    sink: journal ? "journal" : textMode,
    flush: () => journal?.drain() ?? Promise.resolve(),
  };
}

function isMissing(error: unknown): boolean {
  return error instanceof Error && error.cause instanceof Deno.errors.NotFound;
}

/**
 * A logger's name: a role's module name (`"ldap"`, category
 * `["wgsync", "ldap"]`), or a shared library's path under `lib/`
 * (`["lib", "ldap"]`, category `["wgsync", "lib", "ldap"]`), so that a
 * role's own records and those of the libraries it uses can be told apart
 * and filtered separately.
 */
export type LoggerName = string | readonly ["lib", string, ...string[]];

/**
 * The one logger factory of wgsync: `getLogger("ldap")` in a role,
 * `getLogger(["lib", "channel"])` in a shared library.
 */
export function getLogger(name: LoggerName): Logger {
  return getLogTapeLogger(
    typeof name === "string" ? ["wgsync", name] : ["wgsync", ...name],
  );
}

/**
 * A sender to journald if its socket takes datagrams, else why not. The probe
 * is an empty datagram, which journald ignores.
 */
async function probeJournal(
  socket: string,
): Promise<{ sender: DatagramSender } | { error: unknown }> {
  const sender = new DatagramSender(socket);
  try {
    // A socket that is there but full: use it, the sink queues.
    await waitAtMost(sender.send(new Uint8Array(0)), PROBE_WAIT_MS);
    return { sender };
  } catch (error) {
    await sender.close();
    return { error };
  }
}

/** Whether `journalStream` (`<dev>:<ino>`) is the file stderr writes to. */
function isStderr(journalStream: string | undefined): boolean {
  const match = /^(\d+):(\d+)$/.exec(journalStream ?? "");
  if (!match) return false;
  try {
    const stat = fstatSync(2, { bigint: true });
    return stat.dev === BigInt(match[1]) && stat.ino === BigInt(match[2]);
  } catch {
    return false;
  }
}
