/**
 * Errors of the GSSAPI and SASL GSSAPI code, and the readable text of GSS
 * status codes.
 *
 * @module
 */

import {
  GSS_C_GSS_CODE,
  GSS_C_MECH_CODE,
  type Gssapi,
  isGssError,
  outputBuffer,
  takeBuffer,
} from "./ffi.ts";

/** Options of {@linkcode GssError}. */
export interface GssErrorOptions extends ErrorOptions {
  /** The GSS major status code. */
  major: number;
  /** The mechanism (Kerberos) minor status code. */
  minor: number;
}

/**
 * A GSSAPI call failed. The message names the client principal or ticket
 * cache, the target service and the text of the major and minor codes.
 */
export class GssError extends Error {
  /** The GSS major status code (0 when the failure was found by this code). */
  major: number;
  /** The mechanism minor status code (0 when none). */
  minor: number;

  /** Creates the error; `message` should already contain the status text. */
  constructor(message: string, options: GssErrorOptions) {
    super(message, options);
    this.name = "GssError";
    this.major = options.major;
    this.minor = options.minor;
  }
}

/** Options of {@linkcode SaslError}. */
export interface SaslErrorOptions extends ErrorOptions {
  /** The LDAP result code of the BindResponse, when the server answered. */
  resultCode?: number;
  /** The server's diagnostic message, when it gave one. */
  diagnosticMessage?: string;
}

/** The SASL GSSAPI exchange failed outside GSSAPI (the server refused, or broke RFC 4752). */
export class SaslError extends Error {
  /** The LDAP result code of the failing BindResponse, if any. */
  resultCode?: number;
  /** The server's diagnostic message, if any. */
  diagnosticMessage?: string;

  /** Creates the error. */
  constructor(message: string, options: SaslErrorOptions = {}) {
    super(message, options);
    this.name = "SaslError";
    this.resultCode = options.resultCode;
    this.diagnosticMessage = options.diagnosticMessage;
  }
}

function displayOne(api: Gssapi, code: number, type: number): string {
  const parts: string[] = [];
  const minor = new Uint32Array(1);
  const messageContext = new Uint32Array(1);
  const text = outputBuffer();
  // The loop bound guards against a library that never clears message_context.
  for (let i = 0; i < 16; i++) {
    const major = api.fn.gss_display_status(
      minor,
      code,
      type,
      null,
      messageContext,
      text,
    );
    const part = new TextDecoder().decode(takeBuffer(api, text));
    if (isGssError(major)) break;
    if (part) parts.push(part);
    if (messageContext[0] === 0) break;
  }
  return parts.join("; ") || "(no text)";
}

/**
 * `GSS major: <text> (<code>), minor: <text> (<code>)` for a status pair,
 * read with `gss_display_status` for both the GSS and the mechanism code.
 */
export function statusText(api: Gssapi, major: number, minor: number): string {
  const majorText = displayOne(api, major, GSS_C_GSS_CODE);
  const minorText = minor === 0
    ? "none"
    : `${displayOne(api, minor, GSS_C_MECH_CODE)} (${minor})`;
  return `GSS major: ${majorText} (0x${
    major.toString(16).padStart(8, "0")
  }), minor: ${minorText}`;
}
