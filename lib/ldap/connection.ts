/**
 * The transport of the LDAP client: TCP or TLS, StartTLS upgrade, framing of
 * LDAP messages (one BER SEQUENCE each) with a size limit, the SASL security
 * layer (every message wrapped and sent with a 4-byte big-endian length), and
 * timeouts.
 *
 * Reading is pull-based: the socket is read only when the caller asks for the
 * next message and no complete message is buffered yet, so a slow caller makes
 * TCP push back on the server and memory stays bounded by the largest message.
 *
 * @module
 */

import { describe, LdapConnectionError, LdapProtocolError } from "./errors.ts";
import { messageSize, type MessageSizeOptions } from "./framing.ts";
import { ReadBuffer } from "./read_buffer.ts";
import {
  saslBufferSize,
  type SecurityLayer,
  wrappedBuffers,
} from "./sasl_buffers.ts";
import type { LdapUrl } from "./url.ts";

import { DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_PDU_SIZE } from "./defaults.ts";

/** Options of {@linkcode LdapConnection.open}. */
export interface ConnectionOptions {
  /**
   * PEM certificates of the CAs trusted for `ldaps://` and StartTLS, in
   * addition to the system roots. Default: none (system roots only).
   */
  caCerts?: string[];
  /** Milliseconds to open the TCP connection and finish TLS. Default 10,000. */
  connectTimeout?: number;
  /** Largest LDAP message accepted from the server, in bytes. Default 32 MiB. */
  maxPduSize?: number;
}

/** Options of {@linkcode LdapConnection.read}. */
export interface ReadOptions {
  /** Milliseconds to wait; when they pass the connection is closed. Default: no limit. */
  timeout?: number;
  /** What the caller waits for, for the timeout error, such as "the bind response". */
  waitingFor?: string;
}

/** One connection to an LDAP server. Not safe for two concurrent reads. */
export class LdapConnection {
  #conn: Deno.TcpConn | Deno.TlsConn;
  #tls: boolean;
  #label: string;
  #url: LdapUrl;
  #caCerts: string[] | undefined;
  #connectTimeout: number;
  #framing: MessageSizeOptions;
  #plain = new ReadBuffer();
  #raw: ReadBuffer | undefined;
  #layer: SecurityLayer | undefined;
  #maxReceiveSize = 0;
  #reading = false;
  #closed = false;
  #timedOut = false;
  #writeTail: Promise<void> = Promise.resolve();
  #messageId = 0;

  private constructor(
    conn: Deno.TcpConn | Deno.TlsConn,
    url: LdapUrl,
    options: ConnectionOptions,
  ) {
    this.#conn = conn;
    this.#url = url;
    this.#tls = url.scheme === "ldaps";
    this.#label = `${url.scheme}://${
      url.hostname.includes(":") ? `[${url.hostname}]` : url.hostname
    }:${url.port}`;
    this.#caCerts = options.caCerts;
    this.#connectTimeout = options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT;
    this.#framing = {
      maxPduSize: options.maxPduSize ?? DEFAULT_MAX_PDU_SIZE,
      label: this.#label,
    };
  }

  /**
   * Opens a connection to the server of `url` (TLS from the first byte for
   * `ldaps://`). Throws {@linkcode LdapConnectionError} naming the server.
   */
  static async open(
    url: LdapUrl,
    options: ConnectionOptions = {},
  ): Promise<LdapConnection> {
    const connectTimeout = options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT;
    let tcp: Deno.TcpConn;
    const label = `${url.scheme}://${url.hostname}:${url.port}`;
    try {
      tcp = await Deno.connect({
        hostname: url.hostname,
        port: url.port,
        signal: AbortSignal.timeout(connectTimeout),
      });
    } catch (error) {
      // Missing permissions are not a network failure worth retrying.
      if (error instanceof Deno.errors.NotCapable) throw error;
      const reason =
        error instanceof DOMException && error.name === "TimeoutError"
          ? `it did not answer within ${connectTimeout} ms`
          : `the connection failed (${describe(error)})`;
      throw new LdapConnectionError(
        `Cannot connect to the LDAP server as ${reason}: server is ${label}`,
        { cause: error },
      );
    }
    tcp.setKeepAlive(true);
    // Requests are small and answered before the next: Nagle's algorithm
    // only delays them. With it, a GSSAPI bind over StartTLS took 45 ms
    // (the peer's delayed-ACK timer), without it 2.5 ms.
    tcp.setNoDelay(true);
    const connection = new LdapConnection(tcp, url, options);
    if (url.scheme === "ldaps") {
      await connection.#upgrade(tcp);
    }
    return connection;
  }

  /** The server, as `scheme://host:port`, for messages. */
  get label(): string {
    return this.#label;
  }

  /** The URL this connection was opened with. */
  get url(): LdapUrl {
    return this.#url;
  }

  /** True once the connection is protected by TLS (ldaps or after StartTLS). */
  get tls(): boolean {
    return this.#tls;
  }

  /** True once a SASL security layer wraps every message. */
  get saslLayerActive(): boolean {
    return this.#layer !== undefined;
  }

  /** True once {@linkcode close} was called or the connection failed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Returns the next message ID of this connection (1, 2, ...). */
  nextMessageId(): number {
    this.#messageId = this.#messageId >= 0x7fffffff ? 1 : this.#messageId + 1;
    return this.#messageId;
  }

  /**
   * Switches to TLS after a successful StartTLS extended operation. The server
   * must not have sent anything after its StartTLS response and no read may be
   * pending.
   */
  async startTls(): Promise<void> {
    if (this.#tls) {
      throw new LdapConnectionError(
        `Cannot start TLS as the connection already uses TLS: server is ${this.#label}`,
      );
    }
    if (this.#reading || this.#plain.size > 0) {
      throw new LdapProtocolError(
        `Cannot start TLS as the server sent data after its StartTLS response: server is ${this.#label}`,
      );
    }
    await this.#upgrade(this.#conn as Deno.TcpConn);
  }

  /**
   * Installs the SASL security layer negotiated by a bind: from now on every
   * message both ways is wrapped and framed with a 4-byte big-endian length.
   * `maxReceiveSize` is the largest buffer this client offered to accept.
   */
  installSecurityLayer(layer: SecurityLayer, maxReceiveSize: number): void {
    if (this.#plain.size > 0) {
      throw new LdapProtocolError(
        `Cannot install the SASL security layer as the server sent data after the bind response: server is ${this.#label}`,
      );
    }
    this.#layer = layer;
    this.#maxReceiveSize = maxReceiveSize;
    this.#raw = new ReadBuffer();
  }

  /**
   * Sends one encoded LDAP message (wrapped when a SASL security layer is
   * installed). Concurrent sends are written one after the other.
   */
  send(message: Uint8Array): Promise<void> {
    const written = this.#writeTail.then(() => this.#write(message));
    this.#writeTail = written.catch(() => {});
    return written;
  }

  /**
   * Reads the next complete LDAP message. The returned bytes are a view into
   * the read buffer, valid until the next call.
   *
   * Throws {@linkcode LdapConnectionError} when the server closed the
   * connection (also in the middle of a message) or the timeout passed, and
   * {@linkcode LdapProtocolError} for bytes that cannot start an LDAP message
   * or a message larger than `maxPduSize`. After an error the connection is
   * unusable and closed.
   */
  async read(options: ReadOptions = {}): Promise<Uint8Array> {
    if (this.#reading) {
      throw new Error(
        "Cannot read from the LDAP connection as another read is pending",
      );
    }
    this.#reading = true;
    const timer = options.timeout === undefined ? undefined : setTimeout(() => {
      this.#timedOut = true;
      this.close();
    }, options.timeout);
    try {
      for (;;) {
        const size = this.#plain.size >= 2
          ? messageSize(this.#plain, this.#framing)
          : -1;
        if (size > 0 && this.#plain.size >= size) {
          return this.#plain.take(size);
        }
        await this.#fill(size);
      }
    } catch (error) {
      this.close();
      if (this.#timedOut) {
        throw new LdapConnectionError(
          `Cannot read from the LDAP server as it did not send ${
            options.waitingFor ?? "a response"
          } within ${options.timeout} ms: server is ${this.#label}`,
          { cause: error },
        );
      }
      throw error;
    } finally {
      clearTimeout(timer);
      this.#reading = false;
    }
  }

  /** Closes the connection; pending reads fail. Safe to call more than once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#layer?.close?.();
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer or by a failed handshake: nothing to release.
    }
  }

  /** Reads more plaintext into the buffer; `needed` is the complete message size when known. */
  async #fill(needed: number): Promise<void> {
    if (this.#layer) {
      const plaintext = await this.#readSaslBuffer(needed);
      this.#plain.append(plaintext);
      return;
    }
    this.#plain.reserve(needed > 0 ? needed : this.#plain.size + 1);
    const count = await this.#readRaw(
      this.#plain.bytes.subarray(this.#plain.end),
    );
    if (count === null) throw this.#closedError(this.#plain.size, needed);
    this.#plain.end += count;
  }

  /** Reads one SASL buffer (4-byte length + token) and returns its plaintext. */
  async #readSaslBuffer(needed: number): Promise<Uint8Array> {
    const raw = this.#raw!;
    let length = -1;
    for (;;) {
      if (length < 0 && raw.size >= 4) {
        length = saslBufferSize(raw, {
          maxReceiveSize: this.#maxReceiveSize,
          label: this.#label,
        });
      }
      if (length >= 0 && raw.size >= 4 + length) {
        raw.take(4);
        const token = raw.take(length);
        try {
          return this.#layer!.unwrap(token);
        } catch (error) {
          throw new LdapProtocolError(
            `Cannot unwrap the SASL buffer of ${length} bytes from the server (${
              describe(error)
            }): server is ${this.#label}`,
            { cause: error },
          );
        }
      }
      raw.reserve(length >= 0 ? 4 + length : 4);
      const count = await this.#readRaw(raw.bytes.subarray(raw.end));
      if (count === null) {
        throw this.#closedError(this.#plain.size + raw.size, needed);
      }
      raw.end += count;
    }
  }

  async #readRaw(into: Uint8Array): Promise<number | null> {
    try {
      return await this.#conn.read(into);
    } catch (error) {
      if (this.#timedOut) throw error;
      throw new LdapConnectionError(
        this.#closed
          ? `Cannot read from the LDAP server as the connection was closed by this client: server is ${this.#label}`
          : `Cannot read from the LDAP server as the connection failed (${
            describe(error)
          }): server is ${this.#label}`,
        { cause: error },
      );
    }
  }

  #closedError(buffered: number, needed: number): LdapConnectionError {
    if (buffered === 0) {
      return new LdapConnectionError(
        `Cannot read from the LDAP server as it closed the connection: server is ${this.#label}`,
      );
    }
    const of = needed > 0 ? ` of ${needed}` : "";
    return new LdapConnectionError(
      `Cannot read from the LDAP server as it closed the connection in the middle of a message (received ${buffered}${of} bytes): server is ${this.#label}`,
    );
  }

  async #write(message: Uint8Array): Promise<void> {
    if (this.#closed) {
      throw new LdapConnectionError(
        `Cannot send to the LDAP server as the connection is closed: server is ${this.#label}`,
      );
    }
    try {
      if (!this.#layer) {
        await this.#writeAll(message);
        return;
      }
      for (const framed of wrappedBuffers(this.#layer, message)) {
        await this.#writeAll(framed);
      }
    } catch (error) {
      this.close();
      throw new LdapConnectionError(
        `Cannot send to the LDAP server as the connection failed (${
          describe(error)
        }): server is ${this.#label}`,
        { cause: error },
      );
    }
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      offset += await this.#conn.write(bytes.subarray(offset));
    }
  }

  async #upgrade(tcp: Deno.TcpConn): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const tls = await Deno.startTls(tcp, {
        hostname: this.#url.hostname,
        caCerts: this.#caCerts,
      });
      this.#conn = tls;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(
            new Error(`no TLS handshake within ${this.#connectTimeout} ms`),
          );
          tls.close();
        }, this.#connectTimeout);
      });
      await Promise.race([tls.handshake(), timeout]);
      this.#tls = true;
    } catch (error) {
      this.close();
      throw new LdapConnectionError(
        `Cannot start TLS with the LDAP server as the handshake failed (${
          describe(error)
        }): server is ${this.#label}`,
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
  }
}
