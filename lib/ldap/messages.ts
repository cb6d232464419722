/**
 * LDAP messages (RFC 4511): requests encoded with ldapts's message classes,
 * responses decoded strictly with {@linkcode BerInput}.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import {
  type BerWriter,
  BindRequest,
  type Control,
  ExtendedRequest,
  FilterParser,
  SearchRequest,
  UnbindRequest,
} from "ldapts";
import { BerError, BerInput, Utf8Error } from "./ber.ts";

/** Protocol operation tags of the responses this client understands. */
export const Tag = {
  bindResponse: 0x61,
  searchResultEntry: 0x64,
  searchResultDone: 0x65,
  searchResultReference: 0x73,
  extendedResponse: 0x78,
  intermediateResponse: 0x79,
} as const;

/** The LDAPResult of a response (RFC 4511 section 4.1.9). */
export interface LdapResult {
  resultCode: number;
  matchedDN: string;
  diagnosticMessage: string;
}

/** A control attached to a response. */
export interface ResponseControl {
  oid: string;
  critical: boolean;
  /** A view of the control value, valid until the next read of the connection. */
  value?: Uint8Array;
}

/** A SearchResultEntry. */
export interface SearchEntryResponse {
  type: "searchEntry";
  messageId: number;
  dn: string;
  /** Attribute values by lower-cased attribute description. */
  attributes: Record<string, string[]>;
  controls: ResponseControl[];
}

/** A SearchResultReference. */
export interface SearchReferenceResponse {
  type: "searchReference";
  messageId: number;
  uris: string[];
  controls: ResponseControl[];
}

/** A SearchResultDone. */
export interface SearchDoneResponse {
  type: "searchDone";
  messageId: number;
  result: LdapResult;
  controls: ResponseControl[];
}

/** An IntermediateResponse (RFC 4511 section 4.13). */
export interface IntermediateResponse {
  type: "intermediate";
  messageId: number;
  name?: string;
  /** A view of the response value, valid until the next read of the connection. */
  value?: Uint8Array;
  controls: ResponseControl[];
}

/** A BindResponse. */
export interface BindResponse {
  type: "bind";
  messageId: number;
  result: LdapResult;
  /** A copy of serverSaslCreds. */
  serverSaslCreds?: Uint8Array;
  controls: ResponseControl[];
}

/** An ExtendedResponse (also the unsolicited Notice of Disconnection, message ID 0). */
export interface ExtendedResponse {
  type: "extended";
  messageId: number;
  result: LdapResult;
  name?: string;
  /** A view of the response value, valid until the next read of the connection. */
  value?: Uint8Array;
  controls: ResponseControl[];
}

/** Any response this client understands. */
export type LdapResponse =
  | SearchEntryResponse
  | SearchReferenceResponse
  | SearchDoneResponse
  | IntermediateResponse
  | BindResponse
  | ExtendedResponse;

/** ldapts's BindRequest, writing binary credentials (simple password or SASL token) as bytes. */
class BinaryBindRequest extends BindRequest {
  #credentials: Uint8Array | undefined;

  constructor(
    messageId: number,
    dn: string,
    mechanism: string | undefined,
    credentials: Uint8Array | undefined,
  ) {
    super({ messageId, dn, mechanism });
    this.#credentials = credentials;
  }

  override writeMessage(writer: BerWriter): void {
    writer.writeInt(this.version);
    writer.writeString(this.dn);
    if (this.mechanism === undefined) {
      writer.writeBuffer(toBuffer(this.#credentials ?? new Uint8Array()), 0x80);
      return;
    }
    writer.startSequence(0xa3);
    writer.writeString(this.mechanism);
    if (this.#credentials !== undefined) {
      writer.writeBuffer(toBuffer(this.#credentials), 0x04);
    }
    writer.endSequence();
  }
}

/** Encodes a simple BindRequest (an empty DN and password is the anonymous bind). */
export function encodeSimpleBind(
  messageId: number,
  dn: string,
  password: Uint8Array,
): Uint8Array {
  return new BinaryBindRequest(messageId, dn, undefined, password).write();
}

/** Encodes a SASL BindRequest; `credentials` undefined leaves the field out. */
export function encodeSaslBind(
  messageId: number,
  mechanism: string,
  credentials: Uint8Array | undefined,
): Uint8Array {
  return new BinaryBindRequest(messageId, "", mechanism, credentials).write();
}

/** What a SearchRequest asks for. */
export interface SearchParameters {
  baseDN: string;
  scope: "base" | "one" | "sub";
  /** An RFC 4515 filter string. */
  filter: string;
  attributes: string[];
  controls: Control[];
}

/** Encodes a SearchRequest without size or time limit. Throws a TypeError for a bad filter. */
export function encodeSearch(
  messageId: number,
  search: SearchParameters,
): Uint8Array {
  return new SearchRequest({
    messageId,
    baseDN: search.baseDN,
    scope: search.scope,
    filter: parseFilter(search.filter),
    attributes: search.attributes,
    sizeLimit: 0,
    timeLimit: 0,
    controls: search.controls,
  }).write();
}

/** Parses an RFC 4515 filter, throwing a TypeError naming the filter. */
export function parseFilter(
  filter: string,
): ReturnType<typeof FilterParser.parseString> {
  try {
    return FilterParser.parseString(filter);
  } catch (error) {
    throw new TypeError(
      `Cannot use the LDAP option filter as it is not valid RFC 4515 syntax: filter is "${filter}"`,
      { cause: error },
    );
  }
}

/** Encodes an ExtendedRequest. */
export function encodeExtended(
  messageId: number,
  oid: string,
  value?: Uint8Array,
): Uint8Array {
  return new ExtendedRequest({
    messageId,
    oid,
    value: value === undefined ? undefined : toBuffer(value),
  }).write();
}

/** Encodes an UnbindRequest. */
export function encodeUnbind(messageId: number): Uint8Array {
  return new UnbindRequest({ messageId }).write();
}

/**
 * Decodes one LDAP message from the server. Throws {@linkcode BerError} for
 * malformed BER or an operation this client does not understand, and
 * {@linkcode Utf8Error} naming the DN and attribute for a value that is not
 * UTF-8.
 */
export function decodeResponse(bytes: Uint8Array): LdapResponse {
  const input = new BerInput(bytes);
  const end = input.enterWhole(0x30, "the LDAPMessage");
  const messageId = input.integer(0x02, "the messageID", end);
  if (messageId < 0) {
    throw new BerError(`the messageID ${messageId} is negative`);
  }
  const tag = input.peek(end);
  let response: LdapResponse;
  switch (tag) {
    case Tag.searchResultEntry:
      response = decodeEntry(input, messageId);
      break;
    case Tag.searchResultDone: {
      const opEnd = input.enter(tag, "the SearchResultDone", end);
      response = {
        type: "searchDone",
        messageId,
        result: decodeResult(input, opEnd, "the SearchResultDone"),
        controls: [],
      };
      skipRest(input, opEnd);
      break;
    }
    case Tag.searchResultReference: {
      const opEnd = input.enter(tag, "the SearchResultReference", end);
      const uris: string[] = [];
      while (input.offset < opEnd) {
        uris.push(input.utf8(0x04, "a reference URI", opEnd));
      }
      response = { type: "searchReference", messageId, uris, controls: [] };
      break;
    }
    case Tag.intermediateResponse: {
      const opEnd = input.enter(tag, "the IntermediateResponse", end);
      const name = input.peek(opEnd) === 0x80
        ? input.utf8(0x80, "the IntermediateResponse name", opEnd)
        : undefined;
      const value = input.peek(opEnd) === 0x81
        ? input.bytes(0x81, "the IntermediateResponse value", opEnd)
        : undefined;
      skipRest(input, opEnd);
      response = { type: "intermediate", messageId, name, value, controls: [] };
      break;
    }
    case Tag.bindResponse: {
      const opEnd = input.enter(tag, "the BindResponse", end);
      const result = decodeResult(input, opEnd, "the BindResponse");
      const serverSaslCreds = input.peek(opEnd) === 0x87
        ? input.copy(0x87, "the serverSaslCreds", opEnd)
        : undefined;
      skipRest(input, opEnd);
      response = {
        type: "bind",
        messageId,
        result,
        serverSaslCreds,
        controls: [],
      };
      break;
    }
    case Tag.extendedResponse: {
      const opEnd = input.enter(tag, "the ExtendedResponse", end);
      const result = decodeResult(input, opEnd, "the ExtendedResponse");
      const name = input.peek(opEnd) === 0x8a
        ? input.utf8(0x8a, "the ExtendedResponse name", opEnd)
        : undefined;
      const value = input.peek(opEnd) === 0x8b
        ? input.bytes(0x8b, "the ExtendedResponse value", opEnd)
        : undefined;
      skipRest(input, opEnd);
      response = {
        type: "extended",
        messageId,
        result,
        name,
        value,
        controls: [],
      };
      break;
    }
    default:
      throw new BerError(
        tag === undefined
          ? `the LDAPMessage with ID ${messageId} has no protocol operation`
          : `the LDAPMessage with ID ${messageId} has the protocol operation tag 0x${
            tag.toString(16)
          }, which is not a response this client expects`,
      );
  }
  if (input.peek(end) === 0xa0) {
    response.controls = decodeControls(input, end);
  }
  input.expectEnd(end, "the LDAPMessage");
  return response;
}

function decodeEntry(input: BerInput, messageId: number): SearchEntryResponse {
  const opEnd = input.enter(Tag.searchResultEntry, "the SearchResultEntry");
  const dn = input.utf8(0x04, "the DN of the SearchResultEntry", opEnd);
  const listEnd = input.enter(0x30, "the attribute list", opEnd);
  const attributes: Record<string, string[]> = {};
  while (input.offset < listEnd) {
    const attributeEnd = input.enter(0x30, "an attribute", listEnd);
    const name = input.utf8(0x04, "an attribute description", attributeEnd)
      .toLowerCase();
    const valuesEnd = input.enter(0x31, "the value set", attributeEnd);
    const values = attributes[name] ??= [];
    try {
      while (input.offset < valuesEnd) {
        values.push(input.utf8InSet(0x04, "an attribute value", valuesEnd));
      }
    } catch (error) {
      if (error instanceof Utf8Error) {
        throw new Utf8Error(
          `a value of attribute "${name}" of entry "${dn}" is not valid UTF-8: ${error.message}`,
          { cause: error },
        );
      }
      throw error;
    }
    input.expectEnd(attributeEnd, `attribute "${name}" of entry "${dn}"`);
  }
  input.expectEnd(opEnd, `the SearchResultEntry "${dn}"`);
  return { type: "searchEntry", messageId, dn, attributes, controls: [] };
}

function decodeResult(
  input: BerInput,
  limit: number,
  what: string,
): LdapResult {
  const resultCode = input.integer(0x0a, `the resultCode of ${what}`, limit);
  const matchedDN = input.utf8(0x04, `the matchedDN of ${what}`, limit);
  const diagnosticMessage = input.utf8(
    0x04,
    `the diagnosticMessage of ${what}`,
    limit,
  );
  if (input.peek(limit) === 0xa3) input.skip(`the referral of ${what}`, limit);
  return { resultCode, matchedDN, diagnosticMessage };
}

function decodeControls(input: BerInput, limit: number): ResponseControl[] {
  const end = input.enter(0xa0, "the controls", limit);
  const controls: ResponseControl[] = [];
  while (input.offset < end) {
    const controlEnd = input.enter(0x30, "a control", end);
    const oid = input.utf8(0x04, "the controlType", controlEnd);
    const critical = input.peek(controlEnd) === 0x01
      ? input.boolean(`the criticality of control ${oid}`, controlEnd)
      : false;
    const value = input.peek(controlEnd) === 0x04
      ? input.bytes(0x04, `the value of control ${oid}`, controlEnd)
      : undefined;
    input.expectEnd(controlEnd, `control ${oid}`);
    controls.push({ oid, critical, value });
  }
  return controls;
}

/** Skips elements a later LDAP version may append to a response (RFC 4511 section 4.1.1 says to ignore them). */
function skipRest(input: BerInput, end: number): void {
  while (input.offset < end) input.skip("an extension element", end);
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
