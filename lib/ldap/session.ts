/**
 * An authenticated LDAP session: connect (TLS for ldaps://), StartTLS when
 * asked, then bind.
 *
 * @module
 */

import { bind, type BindOptions, type BindResult } from "./bind.ts";
import { type ConnectionOptions, LdapConnection } from "./connection.ts";
import { Oid } from "./controls.ts";
import { describe, LdapConnectionError, LdapResultError } from "./errors.ts";
import { encodeExtended, encodeUnbind } from "./messages.ts";
import { exchange } from "./operation.ts";
import type { LdapUrl } from "./url.ts";

/** Options of {@linkcode openSession}. */
export interface SessionOptions extends Omit<ConnectionOptions, "caCerts"> {
  /** Upgrade an `ldap://` connection with StartTLS before binding. Default false. */
  startTls?: boolean;
  /** PEM file of the CA(s) to trust for `ldaps://` and StartTLS, read at every connect. Default: system roots. */
  caFile?: string;
  /** Milliseconds to wait for the StartTLS and bind responses. Default 30,000. */
  operationTimeout?: number;
  /** How to bind. */
  bind: BindOptions;
}

/** A connected and bound session. */
export interface LdapSession {
  connection: LdapConnection;
  bind: BindResult;
}

/**
 * Connects to `url`, runs StartTLS when asked, and binds. The connection is
 * closed when any step fails.
 */
export async function openSession(
  url: LdapUrl,
  options: SessionOptions,
): Promise<LdapSession> {
  const caCerts = options.caFile === undefined
    ? undefined
    : [await readCaFile(options.caFile)];
  const connection = await LdapConnection.open(url, {
    caCerts,
    connectTimeout: options.connectTimeout,
    maxPduSize: options.maxPduSize,
  });
  try {
    if (options.startTls) {
      await startTls(connection, options.operationTimeout);
    }
    const result = await bind(connection, options.bind, {
      timeout: options.operationTimeout,
    });
    return { connection, bind: result };
  } catch (error) {
    connection.close();
    throw error;
  }
}

/** Sends an UnbindRequest (best effort) and closes the connection. */
export async function closeSession(connection: LdapConnection): Promise<void> {
  if (!connection.closed) {
    try {
      await connection.send(encodeUnbind(connection.nextMessageId()));
    } catch {
      // The connection is already gone; closing it is all that is left to do.
    }
  }
  connection.close();
}

async function startTls(
  connection: LdapConnection,
  timeout: number | undefined,
): Promise<void> {
  const messageId = connection.nextMessageId();
  const response = await exchange(
    connection,
    encodeExtended(messageId, Oid.startTls),
    { messageId, expect: "extended", what: "StartTLS request", timeout },
  );
  const { resultCode, diagnosticMessage, matchedDN } = response.result;
  if (resultCode !== 0) {
    throw new LdapConnectionError(
      `Cannot start TLS as the LDAP server refused StartTLS with result code ${resultCode}${
        diagnosticMessage ? ` (${diagnosticMessage})` : ""
      }: server is ${connection.label}`,
      {
        cause: new LdapResultError({
          operation: "StartTLS",
          resultCode,
          diagnosticMessage,
          matchedDN,
        }),
      },
    );
  }
  await connection.startTls();
}

async function readCaFile(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    const reason = error instanceof Deno.errors.NotFound
      ? "the CA file is missing"
      : `the CA file cannot be read (${describe(error)})`;
    throw new LdapConnectionError(
      `Cannot connect to LDAP with TLS as ${reason}: path is "${path}"`,
      { cause: error },
    );
  }
}
