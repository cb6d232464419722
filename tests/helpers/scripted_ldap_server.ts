/**
 * A scripted LDAP server for the bad-input tests of the sync client.
 *
 * This is a FAKE, allowed here only because no real server sends malformed
 * BER, oversized or truncated messages, non-UTF-8 values or unknown controls
 * on demand: each accepted connection runs a script that reads the client's
 * requests and answers with bytes built by the encoders of ldap_ber.ts (which
 * can build broken messages as easily as good ones). Everything else in the
 * client's tests runs against the real slapd of the local stack.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { BerReader } from "ldapts";
import { bindResponse, extendedResponse, searchDone } from "./ldap_ber.ts";

/** One request read from the client. */
export interface ScriptedRequest {
  messageId: number;
  /** The protocol operation tag (0x60 bind, 0x63 search, 0x77 extended, 0x42 unbind). */
  tag: number;
  /** For a search with a Sync Request Control: its mode and cookie. */
  sync?: { mode: number; cookie?: Uint8Array };
  /** For an extended request: its OID. */
  oid?: string;
}

/** The server side of one accepted connection, driven by a script. */
export class ScriptedPeer {
  #conn: Deno.Conn;
  #buffer = new Uint8Array(0);
  /** Every request read on this connection. */
  readonly requests: ScriptedRequest[] = [];

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Reads the next request; undefined when the client closed the connection. */
  async request(): Promise<ScriptedRequest | undefined> {
    for (;;) {
      const size = frameSize(this.#buffer);
      if (size !== undefined && this.#buffer.length >= size) {
        const bytes = this.#buffer.subarray(0, size);
        this.#buffer = this.#buffer.slice(size);
        const request = parseRequest(bytes);
        this.requests.push(request);
        return request;
      }
      const chunk = new Uint8Array(64 * 1024);
      let count: number | null;
      try {
        count = await this.#conn.read(chunk);
      } catch {
        return undefined;
      }
      if (count === null) return undefined;
      const joined = new Uint8Array(this.#buffer.length + count);
      joined.set(this.#buffer);
      joined.set(chunk.subarray(0, count), this.#buffer.length);
      this.#buffer = joined;
    }
  }

  /** Reads the next request and checks its operation tag. */
  async expect(tag: number): Promise<ScriptedRequest> {
    const request = await this.request();
    if (request?.tag !== tag) {
      throw new Error(
        `scripted server expected a request with tag 0x${
          tag.toString(16)
        }, got ${JSON.stringify(request)}`,
      );
    }
    return request;
  }

  /** Answers the bind and returns the sync search request that follows. */
  async acceptBindAndSearch(): Promise<ScriptedRequest> {
    const bind = await this.expect(0x60);
    await this.send(bindResponse(bind.messageId, 0));
    return await this.expect(0x63);
  }

  /** Writes bytes to the client. */
  async send(...chunks: Uint8Array[]): Promise<void> {
    for (const chunk of chunks) {
      for (let offset = 0; offset < chunk.length;) {
        offset += await this.#conn.write(chunk.subarray(offset));
      }
    }
  }

  /**
   * Answers what a well-behaved server answers until the client goes away:
   * a Cancel of `searchId` ends the search with result 118 and succeeds.
   */
  async serveUntilClosed(searchId: number): Promise<void> {
    for (;;) {
      const request = await this.request();
      if (request === undefined || request.tag === 0x42) return;
      if (request.tag === 0x77 && request.oid === "1.3.6.1.1.8") {
        await this.send(
          searchDone(searchId, 118),
          extendedResponse(request.messageId, 0),
        );
      }
    }
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Already closed by the client.
    }
  }
}

/** A script run for one connection. */
export type Script = (peer: ScriptedPeer) => Promise<void>;

/** Listens on 127.0.0.1; connection N runs `scripts[N]` (the last one for later connections). */
export class ScriptedLdapServer {
  #listener: Deno.TcpListener;
  #scripts: Script[];
  #tasks: Promise<void>[] = [];
  #running: Promise<void>[] = [];
  /** The peers of the connections accepted so far. */
  readonly peers: ScriptedPeer[] = [];
  /** Errors thrown by scripts (a test should assert this stays empty). */
  readonly errors: unknown[] = [];

  constructor(scripts: Script[]) {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#scripts = scripts;
    this.#tasks.push(this.#accept());
  }

  /** `ldap://127.0.0.1:PORT`. */
  get url(): string {
    return `ldap://127.0.0.1:${this.#listener.addr.port}`;
  }

  /** Waits until the scripts of the connections accepted so far have ended. */
  async settled(): Promise<void> {
    await Promise.allSettled(this.#running);
  }

  /** Stops listening, closes every connection and waits for the scripts. */
  async close(): Promise<void> {
    this.#listener.close();
    for (const peer of this.peers) peer.close();
    await Promise.allSettled(this.#tasks);
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        const peer = new ScriptedPeer(conn);
        const script =
          this.#scripts[Math.min(this.peers.length, this.#scripts.length - 1)];
        this.peers.push(peer);
        const running = script(peer).catch((error) => {
          this.errors.push(error);
        }).finally(() => peer.close());
        this.#running.push(running);
        this.#tasks.push(running);
      }
    } catch {
      // The listener was closed.
    }
  }
}

function frameSize(bytes: Uint8Array): number | undefined {
  if (bytes.length < 2) return undefined;
  const first = bytes[1];
  if (first < 0x80) return 2 + first;
  const count = first & 0x7f;
  if (bytes.length < 2 + count) return undefined;
  let n = 0;
  for (let i = 0; i < count; i++) n = n * 256 + bytes[2 + i];
  return 2 + count + n;
}

function parseRequest(bytes: Uint8Array): ScriptedRequest {
  const reader = new BerReader(Buffer.from(bytes));
  reader.readSequence(0x30);
  const messageId = reader.readInt()!;
  const tag = reader.peek()!;
  const request: ScriptedRequest = { messageId, tag };
  if (tag === 0x77) {
    reader.readSequence(0x77);
    request.oid = reader.readString(0x80) ?? undefined;
  }
  if (tag === 0x63) {
    // Skip the SearchRequest, then look for the Sync Request Control.
    reader.readSequence(0x63);
    reader.offset += reader.length;
    if (reader.peek() === 0xa0) {
      reader.readSequence(0xa0);
      const end = reader.offset + reader.length;
      while (reader.offset < end) {
        reader.readSequence(0x30);
        const controlEnd = reader.offset + reader.length;
        const oid = reader.readString();
        if (reader.peek() === 0x01) reader.readBoolean();
        if (oid === "1.3.6.1.4.1.4203.1.9.1.1") {
          const value = new BerReader(reader.readString(0x04, true)!);
          value.readSequence(0x30);
          const mode = value.readEnumeration()!;
          const cookie = value.peek() === 0x04
            ? new Uint8Array(value.readString(0x04, true)!)
            : undefined;
          request.sync = { mode, cookie };
        }
        reader.offset = controlEnd;
      }
    }
  }
  return request;
}
