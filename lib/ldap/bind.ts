/**
 * Binds: anonymous, simple with the password read from a file, and SASL
 * GSSAPI (RFC 4752) with a negotiated security layer.
 *
 * @module
 */

import {
  type SaslExchangeResult,
  saslGssapiBind,
  type SaslSecurityLayer,
} from "../gssapi/mod.ts";
import { looseSecretMode } from "../secret_file.ts";
import type { LdapConnection } from "./connection.ts";
import { LdapBindError, LdapError, LdapResultError } from "./errors.ts";
import { encodeSaslBind, encodeSimpleBind } from "./messages.ts";
import { exchange } from "./operation.ts";

/** Bind without credentials. */
export interface AnonymousBindOptions {
  method: "anonymous";
}

/** Simple bind as `dn`; the password is read from `passwordFile` at every bind. */
export interface SimpleBindOptions {
  method: "simple";
  dn: string;
  /** File holding the password (one trailing newline is ignored); should be mode 0600. */
  passwordFile: string;
}

/** SASL GSSAPI bind with the Kerberos tickets of a ticket cache. */
export interface GssapiBindOptions {
  method: "gssapi";
  /** Ticket cache (as k5start keeps it). Default: the `KRB5CCNAME` environment variable. */
  ccache?: string;
  /** The client principal the cache must hold. Default: whatever the cache holds. */
  principal?: string;
  /** Host part of the service principal `ldap/HOST`. Default: the host of the URL. */
  saslHost?: string;
  /**
   * Acceptable SASL security layers in preference order, used when the
   * connection is not TLS (over TLS the layer is always "none"). Default:
   * confidentiality, integrity, none (the strongest the server offers).
   */
  layers?: SaslSecurityLayer[];
}

/** How to bind. */
export type BindOptions =
  | AnonymousBindOptions
  | SimpleBindOptions
  | GssapiBindOptions;

/** The outcome of a successful bind. */
export interface BindResult {
  method: BindOptions["method"];
  /** The bind DN, the Kerberos principal, or "" for anonymous. */
  identity: string;
  /** The SASL security layer now wrapping every message ("none" unless GSSAPI chose one). */
  layer: SaslSecurityLayer;
}

/** Checks bind options up front; throws a TypeError naming the bad field. */
export function validateBindOptions(options: BindOptions): void {
  switch (options?.method) {
    case "anonymous":
      return;
    case "simple":
      if (typeof options.dn !== "string" || options.dn === "") {
        throw new TypeError(
          `Cannot use the simple bind options as the dn is not a non-empty string: got ${
            JSON.stringify(options.dn)
          }`,
        );
      }
      if (
        typeof options.passwordFile !== "string" || options.passwordFile === ""
      ) {
        throw new TypeError(
          `Cannot use the simple bind options as passwordFile is not a path: got ${
            JSON.stringify(options.passwordFile)
          }`,
        );
      }
      return;
    case "gssapi":
      if (options.layers !== undefined && options.layers.length === 0) {
        throw new TypeError(
          "Cannot use the GSSAPI bind options as layers is empty: list at least one of confidentiality, integrity, none",
        );
      }
      return;
    default:
      throw new TypeError(
        `Cannot use the bind options as the method is not anonymous, simple or gssapi: got ${
          JSON.stringify((options as { method?: unknown })?.method)
        }`,
      );
  }
}

/**
 * Binds on `connection`. After a GSSAPI bind that chose integrity or
 * confidentiality the connection wraps every message. Throws
 * {@linkcode LdapBindError} (with the LDAP result or GSS-API failure as
 * `cause`) or the connection's errors.
 */
export async function bind(
  connection: LdapConnection,
  options: BindOptions,
  { timeout }: { timeout?: number } = {},
): Promise<BindResult> {
  switch (options.method) {
    case "anonymous":
      await simpleBind(connection, "", new Uint8Array(), timeout);
      return { method: "anonymous", identity: "", layer: "none" };
    case "simple": {
      const password = await readPassword(options.passwordFile);
      try {
        await simpleBind(connection, options.dn, password, timeout);
      } finally {
        password.fill(0);
      }
      return { method: "simple", identity: options.dn, layer: "none" };
    }
    case "gssapi":
      return await gssapiBind(connection, options, timeout);
  }
}

async function simpleBind(
  connection: LdapConnection,
  dn: string,
  password: Uint8Array,
  timeout: number | undefined,
): Promise<void> {
  const messageId = connection.nextMessageId();
  const response = await exchange(
    connection,
    encodeSimpleBind(messageId, dn, password),
    { messageId, expect: "bind", what: "bind", timeout },
  );
  const { resultCode, diagnosticMessage, matchedDN } = response.result;
  if (resultCode !== 0) {
    const as = dn === "" ? "anonymously" : `as "${dn}"`;
    throw new LdapBindError(
      `Cannot bind to LDAP ${as} as the server answered result code ${resultCode}${
        diagnosticMessage ? ` (${diagnosticMessage})` : ""
      }: server is ${connection.label}`,
      {
        cause: new LdapResultError({
          operation: "bind",
          resultCode,
          diagnosticMessage,
          matchedDN,
        }),
      },
    );
  }
}

async function gssapiBind(
  connection: LdapConnection,
  options: GssapiBindOptions,
  timeout: number | undefined,
): Promise<BindResult> {
  const send = async (
    credentials: Uint8Array | undefined,
  ): Promise<SaslExchangeResult> => {
    const messageId = connection.nextMessageId();
    const response = await exchange(
      connection,
      encodeSaslBind(messageId, "GSSAPI", credentials ?? new Uint8Array()),
      { messageId, expect: "bind", what: "SASL GSSAPI bind", timeout },
    );
    return {
      resultCode: response.result.resultCode,
      serverCredentials: response.serverSaslCreds,
      diagnosticMessage: response.result.diagnosticMessage,
    };
  };
  const host = options.saslHost ?? connection.url.hostname;
  let session;
  try {
    session = await saslGssapiBind(send, {
      ccache: options.ccache,
      principal: options.principal,
      service: "ldap",
      host,
      layers: connection.tls ? ["none"] : options.layers,
    });
  } catch (error) {
    if (error instanceof LdapError) throw error;
    throw new LdapBindError(
      `Cannot bind to LDAP with SASL GSSAPI as ldap/${host} (${
        error instanceof Error ? error.message : String(error)
      }): server is ${connection.label}`,
      { cause: error },
    );
  }
  if (session.layer !== "none") {
    connection.installSecurityLayer(session, session.maxReceiveSize);
  }
  return {
    method: "gssapi",
    identity: session.principal,
    layer: session.layer,
  };
}

async function readPassword(path: string): Promise<Uint8Array> {
  let bytes: Uint8Array | undefined;
  let loose: string | undefined;
  try {
    loose = looseSecretMode(await Deno.stat(path));
    if (loose === undefined) bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    const reason = error instanceof Deno.errors.NotFound
      ? "the password file is missing"
      : `the password file cannot be read (${
        error instanceof Error ? error.message : String(error)
      })`;
    throw new LdapBindError(
      `Cannot bind to LDAP as ${reason}: path is "${path}"`,
      { cause: error },
    );
  }
  if (loose !== undefined || bytes === undefined) {
    throw new LdapBindError(
      `Cannot bind to LDAP as the password file is open to group or others: path is "${path}", mode is ${loose}, expected 0600 or tighter`,
    );
  }
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) end--;
  if (end > 0 && bytes[end - 1] === 0x0d) end--;
  if (end === 0) {
    // RFC 4513 section 5.1.2: an empty password is an unauthenticated bind, never what was meant.
    throw new LdapBindError(
      `Cannot bind to LDAP as the password file is empty: path is "${path}"`,
    );
  }
  return bytes.subarray(0, end);
}
