/**
 * The channel's defaults, in one place: the library's options and the
 * `[channel]` section of `wgsync.toml` both take them from here.
 *
 * @module
 */

/** Connections the client keeps. */
export const DEFAULT_CONNECTIONS = 4;

/** Events in flight (sent, not acknowledged) per connection. */
export const DEFAULT_WINDOW = 256;

/**
 * The largest frame (record) on the wire once authenticated: 1 MiB. A guard
 * against garbage, not a limit on events: an event larger than a record
 * travels in several.
 */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/**
 * The largest event accepted, reassembled: 64 MiB (a `workgroup.created` of
 * 200,000 members is about 16 MB).
 */
export const DEFAULT_MAX_EVENT_BYTES = 64 * 1024 * 1024;

/** The smallest frame limit allowed (a record must hold its header and MAC and some data). */
export const MIN_FRAME_BYTES = 1024;
