/**
 * Errors of the LDAP client. Every error names the input and what was
 * expected; the underlying failure, when there is one, is in `cause`.
 *
 * @module
 */

/** Base class of every error thrown by the LDAP client. */
export class LdapError extends Error {
  /** Creates an LDAP error with an optional `cause`. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LdapError";
  }
}

/**
 * The connection could not be opened or was lost: refused, timed out, TLS
 * failure, closed by the server (also in the middle of a message).
 */
export class LdapConnectionError extends LdapError {
  /** Creates a connection error with an optional `cause`. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LdapConnectionError";
  }
}

/**
 * The server sent something this client cannot accept: malformed BER, an
 * unexpected message, a PDU larger than the limit, a value that is not UTF-8.
 */
export class LdapProtocolError extends LdapError {
  /** Creates a protocol error with an optional `cause`. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LdapProtocolError";
  }
}

/** Details of an LDAP result that was not a success. */
export interface LdapResultErrorDetails {
  /** The operation that failed, such as "bind" or "sync search". */
  operation: string;
  /** The LDAP result code (RFC 4511 section 4.1.9, 4096 for e-syncRefreshRequired). */
  resultCode: number;
  /** The server's diagnostic message, possibly empty. */
  diagnosticMessage: string;
  /** The matched DN, possibly empty. */
  matchedDN: string;
}

/** The server answered an operation with a result code other than success. */
export class LdapResultError extends LdapError {
  /** The operation that failed. */
  readonly operation: string;
  /** The LDAP result code. */
  readonly resultCode: number;
  /** The server's diagnostic message, possibly empty. */
  readonly diagnosticMessage: string;
  /** The matched DN, possibly empty. */
  readonly matchedDN: string;

  /** Creates a result error; the message names the operation, code and diagnostic. */
  constructor(details: LdapResultErrorDetails, options?: ErrorOptions) {
    const diagnostic = details.diagnosticMessage
      ? `: ${details.diagnosticMessage}`
      : "";
    super(
      `LDAP ${details.operation} failed with result code ${details.resultCode} (${
        resultCodeName(details.resultCode)
      })${diagnostic}`,
      options,
    );
    this.name = "LdapResultError";
    this.operation = details.operation;
    this.resultCode = details.resultCode;
    this.diagnosticMessage = details.diagnosticMessage;
    this.matchedDN = details.matchedDN;
  }
}

/** A bind failed; `cause` holds the LDAP result or the GSS-API failure. */
export class LdapBindError extends LdapError {
  /** Creates a bind error with an optional `cause`. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LdapBindError";
  }
}

const RESULT_CODE_NAMES: Record<number, string> = {
  0: "success",
  1: "operationsError",
  2: "protocolError",
  3: "timeLimitExceeded",
  4: "sizeLimitExceeded",
  7: "authMethodNotSupported",
  8: "strongerAuthRequired",
  11: "adminLimitExceeded",
  12: "unavailableCriticalExtension",
  13: "confidentialityRequired",
  14: "saslBindInProgress",
  32: "noSuchObject",
  34: "invalidDNSyntax",
  48: "inappropriateAuthentication",
  49: "invalidCredentials",
  50: "insufficientAccessRights",
  51: "busy",
  52: "unavailable",
  53: "unwillingToPerform",
  80: "other",
  118: "canceled",
  119: "noSuchOperation",
  120: "tooLate",
  121: "cannotCancel",
  4096: "e-syncRefreshRequired",
};

/** The RFC name of an LDAP result code, or "unknown". */
export function resultCodeName(code: number): string {
  return RESULT_CODE_NAMES[code] ?? "unknown";
}

/** A short description of an unknown thrown value. */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
