/**
 * Test-only LDAP client, just enough to drive a SASL GSSAPI bind against a
 * real slapd and prove the negotiated security layer with a "Who am I?"
 * extended operation (RFC 4532). Encodes with ldapts's BER classes.
 * It is not the project's LDAP client (that lives in lib/ldap/).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { BerReader, BerWriter } from "ldapts";
import type { SaslExchangeResult, SaslSession } from "../../lib/gssapi/mod.ts";

const WHOAMI_OID = "1.3.6.1.4.1.4203.1.11.3";
const MAX_PDU = 1 << 20;

/** Every byte a {@linkcode LdapTestConnection} wrote, for checks on the wire format. */
export interface WireLog {
  sent: Uint8Array[];
}

/** Length of a complete BER TLV at the start of `data`, or undefined when incomplete. */
function tlvLength(data: Uint8Array): number | undefined {
  if (data.byteLength < 2) return undefined;
  const first = data[1];
  if ((first & 0x80) === 0) return 2 + first;
  const count = first & 0x7f;
  if (count === 0 || count > 4) {
    throw new Error(
      `Cannot read an LDAP PDU with length octet 0x${first.toString(16)}`,
    );
  }
  if (data.byteLength < 2 + count) return undefined;
  let length = 0;
  for (let i = 0; i < count; i++) length = length * 256 + data[2 + i];
  if (length > MAX_PDU) {
    throw new Error(
      `Cannot read an LDAP PDU of ${length} bytes: limit is ${MAX_PDU}`,
    );
  }
  return 2 + count + length;
}

/** An LDAPMessage holding a "Who am I?" ExtendedRequest. */
function whoamiPdu(id: number): Uint8Array {
  const writer = new BerWriter();
  writer.startSequence();
  writer.writeInt(id);
  writer.startSequence(0x77);
  writer.writeString(WHOAMI_OID, 0x80);
  writer.endSequence();
  writer.endSequence();
  return new Uint8Array(writer.buffer);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

/** One LDAP connection over TCP, optionally protected by a SASL security layer. */
export class LdapTestConnection {
  #conn: Deno.TcpConn;
  #raw = new Uint8Array(0);
  #plain = new Uint8Array(0);
  #nextId = 1;
  #session: SaslSession | undefined;
  /** Bytes written on the socket, one entry per write. */
  readonly wire: WireLog = { sent: [] };

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /** Connects to `hostname:port` (default 127.0.0.1). */
  static async connect(
    port: number,
    hostname = "127.0.0.1",
  ): Promise<LdapTestConnection> {
    return new LdapTestConnection(await Deno.connect({ hostname, port }));
  }

  async #write(bytes: Uint8Array): Promise<void> {
    this.wire.sent.push(bytes.slice());
    let written = 0;
    while (written < bytes.byteLength) {
      written += await this.#conn.write(bytes.subarray(written));
    }
  }

  /** Reads more raw bytes; throws on end of stream. */
  async #fill(): Promise<void> {
    const chunk = new Uint8Array(65536);
    const n = await this.#conn.read(chunk);
    if (n === null) {
      throw new Deno.errors.UnexpectedEof(
        "The LDAP server closed the connection",
      );
    }
    this.#raw = concat(this.#raw, chunk.subarray(0, n));
  }

  /** Reads exactly `n` raw bytes. */
  async #take(n: number): Promise<Uint8Array> {
    while (this.#raw.byteLength < n) await this.#fill();
    const out = this.#raw.slice(0, n);
    this.#raw = this.#raw.slice(n);
    return out;
  }

  /** Sends one LDAP PDU, wrapped and framed when a security layer is active. */
  async sendPdu(pdu: Uint8Array): Promise<void> {
    const session = this.#session;
    if (session === undefined || session.layer === "none") {
      return await this.#write(pdu);
    }
    for (
      let offset = 0;
      offset < pdu.byteLength;
      offset += session.maxSendSize
    ) {
      const token = session.wrap(
        pdu.subarray(offset, offset + session.maxSendSize),
      );
      const frame = new Uint8Array(4 + token.byteLength);
      new DataView(frame.buffer).setUint32(0, token.byteLength);
      frame.set(token, 4);
      await this.#write(frame);
    }
  }

  /** Reads one LDAP PDU, unwrapping frames when a security layer is active. */
  async readPdu(): Promise<Uint8Array> {
    const session = this.#session;
    for (;;) {
      const source = session === undefined || session.layer === "none"
        ? this.#raw
        : this.#plain;
      const length = tlvLength(source);
      if (length !== undefined && source.byteLength >= length) {
        const pdu = source.slice(0, length);
        if (source === this.#raw) this.#raw = this.#raw.slice(length);
        else this.#plain = this.#plain.slice(length);
        return pdu;
      }
      if (session === undefined || session.layer === "none") {
        await this.#fill();
        continue;
      }
      const size = new DataView((await this.#take(4)).buffer).getUint32(0);
      if (size > session.maxReceiveSize) {
        throw new Error(
          `Cannot read a SASL frame of ${size} bytes: limit is ${session.maxReceiveSize}`,
        );
      }
      this.#plain = concat(this.#plain, session.unwrap(await this.#take(size)));
    }
  }

  /**
   * Sends one SASL BindRequest (mechanism GSSAPI) and reads the BindResponse;
   * shaped as the `send` callback of `saslGssapiBind`. `undefined` sends an
   * empty credentials field (an empty OCTET STRING).
   */
  saslBindStep = async (
    credentials: Uint8Array | undefined,
  ): Promise<SaslExchangeResult> => {
    const id = this.#nextId++;
    const writer = new BerWriter();
    writer.startSequence();
    writer.writeInt(id);
    writer.startSequence(0x60);
    writer.writeInt(3);
    writer.writeString("");
    writer.startSequence(0xa3);
    writer.writeString("GSSAPI");
    writer.writeBuffer(Buffer.from(credentials ?? new Uint8Array(0)), 0x04);
    writer.endSequence();
    writer.endSequence();
    writer.endSequence();
    await this.sendPdu(new Uint8Array(writer.buffer));
    const reader = new BerReader(Buffer.from(await this.readPdu()));
    reader.readSequence(0x30);
    const responseId = reader.readInt();
    if (responseId !== id) {
      throw new Error(
        `Expected a BindResponse to message ${id}: got message ${responseId}`,
      );
    }
    reader.readSequence(0x61);
    const end = reader.offset + reader.length;
    const resultCode = reader.readEnumeration() ?? -1;
    reader.readString();
    const diagnosticMessage = reader.readString() || undefined;
    let serverCredentials: Uint8Array | undefined;
    while (reader.offset < end) {
      if (reader.peek() === 0x87) {
        serverCredentials = new Uint8Array(reader.readString(0x87, true) ?? []);
      } else {
        reader.readSequence();
        reader.offset += reader.length;
      }
    }
    return { resultCode, serverCredentials, diagnosticMessage };
  };

  /** Uses `session` for every later PDU (after a successful bind). */
  useSession(session: SaslSession): void {
    this.#session = session;
  }

  /** Runs "Who am I?" and returns the authorization identity (e.g. `dn:uid=...`). */
  async whoami(): Promise<string> {
    const id = this.#nextId++;
    await this.sendPdu(whoamiPdu(id));
    const reader = new BerReader(Buffer.from(await this.readPdu()));
    reader.readSequence(0x30);
    const responseId = reader.readInt();
    if (responseId !== id) {
      throw new Error(
        `Expected an ExtendedResponse to message ${id}: got message ${responseId}`,
      );
    }
    reader.readSequence(0x78);
    const end = reader.offset + reader.length;
    const resultCode = reader.readEnumeration();
    reader.readString();
    const diagnostic = reader.readString();
    if (resultCode !== 0) {
      throw new Error(
        `Who am I? failed with result code ${resultCode}: "${diagnostic}"`,
      );
    }
    let value = "";
    while (reader.offset < end) {
      if (reader.peek() === 0x8b) value = reader.readString(0x8b) ?? "";
      else {
        reader.readSequence();
        reader.offset += reader.length;
      }
    }
    return value;
  }

  /** Sends a cleartext "Who am I?" whatever the layer (to check that the server refuses it). */
  async sendCleartextWhoami(): Promise<void> {
    await this.#write(whoamiPdu(this.#nextId++));
  }

  /** Resolves true when the server closes the connection before sending anything. */
  async closedByServer(): Promise<boolean> {
    const chunk = new Uint8Array(1024);
    try {
      return (await this.#conn.read(chunk)) === null;
    } catch (error) {
      if (error instanceof Deno.errors.ConnectionReset) return true;
      throw error;
    }
  }

  /** Closes the socket; safe to call twice. */
  close(): void {
    try {
      this.#conn.close();
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  }
}
