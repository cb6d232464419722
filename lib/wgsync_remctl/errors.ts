/**
 * Errors of the remctl client.
 *
 * @module
 */

/**
 * What failed: `transport` (connect, reset, EOF), `gss` (ticket cache,
 * context), `timeout` (no answer in time), `protocol` (a malformed or
 * unexpected token), `remote` (the server's MESSAGE_ERROR: unknown command,
 * access denied, too much data; `code` holds its error code).
 */
export type RemctlErrorKind =
  | "transport"
  | "gss"
  | "timeout"
  | "protocol"
  | "remote";

/** Options of {@linkcode RemctlError}. */
export interface RemctlErrorOptions extends ErrorOptions {
  kind: RemctlErrorKind;
  /** The MESSAGE_ERROR code for `remote` errors. */
  code?: number;
}

/** A remctl command could not be run (as opposed to running and failing). */
export class RemctlError extends Error {
  /** What failed. */
  kind: RemctlErrorKind;
  /** The server's error code for `remote` errors. */
  code?: number;

  /** Creates the error. */
  constructor(message: string, options: RemctlErrorOptions) {
    super(message, options);
    this.name = "RemctlError";
    this.kind = options.kind;
    this.code = options.code;
  }
}
