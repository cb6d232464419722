/**
 * One request and its single response (bind, StartTLS, Cancel): send, read
 * with a timeout, decode, check the message ID and the response type.
 *
 * @module
 */

import { BerError } from "./ber.ts";
import { Oid } from "./controls.ts";
import type { LdapConnection } from "./connection.ts";
import { LdapConnectionError, LdapProtocolError } from "./errors.ts";
import { decodeResponse, type LdapResponse } from "./messages.ts";

import { DEFAULT_OPERATION_TIMEOUT } from "./defaults.ts";

/**
 * Decodes one message read from `connection`, turning malformed BER into an
 * {@linkcode LdapProtocolError} naming the server and a Notice of
 * Disconnection (RFC 4511 section 4.4.1) into an {@linkcode LdapConnectionError}.
 */
export function decodeFrom(
  connection: LdapConnection,
  bytes: Uint8Array,
): LdapResponse {
  let response: LdapResponse;
  try {
    response = decodeResponse(bytes);
  } catch (error) {
    if (error instanceof BerError) {
      throw new LdapProtocolError(
        `Cannot decode the message from the LDAP server as ${error.message}: server is ${connection.label}`,
        { cause: error },
      );
    }
    throw error;
  }
  if (response.messageId === 0) {
    const notice = response.type === "extended" &&
        response.name === Oid.noticeOfDisconnection
      ? "a Notice of Disconnection"
      : `an unsolicited ${response.type} message`;
    const text = response.type === "extended" || response.type === "bind" ||
        response.type === "searchDone"
      ? ` (result code ${response.result.resultCode}${
        response.result.diagnosticMessage
          ? `: ${response.result.diagnosticMessage}`
          : ""
      })`
      : "";
    connection.close();
    throw new LdapConnectionError(
      `Cannot go on with the LDAP server as it sent ${notice}${text}: server is ${connection.label}`,
    );
  }
  return response;
}

/**
 * Sends `request` (message `messageId`) and returns its response, which must
 * have type `expect`. Throws on timeout, a lost connection, malformed or
 * unexpected responses.
 */
export async function exchange<T extends LdapResponse["type"]>(
  connection: LdapConnection,
  request: Uint8Array,
  options: {
    messageId: number;
    expect: T;
    what: string;
    timeout?: number;
  },
): Promise<Extract<LdapResponse, { type: T }>> {
  await connection.send(request);
  const bytes = await connection.read({
    timeout: options.timeout ?? DEFAULT_OPERATION_TIMEOUT,
    waitingFor: `the response to the ${options.what}`,
  });
  const response = decodeFrom(connection, bytes);
  if (
    response.messageId !== options.messageId || response.type !== options.expect
  ) {
    connection.close();
    throw new LdapProtocolError(
      `Cannot complete the ${options.what} as the server answered with a ${response.type} message for message ID ${response.messageId} instead of a ${options.expect} response for message ID ${options.messageId}: server is ${connection.label}`,
    );
  }
  return response as Extract<LdapResponse, { type: T }>;
}
