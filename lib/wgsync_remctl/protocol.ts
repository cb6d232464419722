/**
 * The remctl wire protocol, version 3 (rra/remctl `docs/protocol.xml`):
 * tokens of 1 flag octet + 4-octet big-endian length + payload, and the
 * messages carried inside `gss_wrap`ped TOKEN_DATA payloads.
 *
 * Written here rather than bound from `libremctl` through FFI: see
 * `client.ts` for the measurements behind that choice.
 *
 * @module
 */

/** Token flags used by protocol versions 2 and 3. */
export const TOKEN_NOOP = 0x01;
/** A GSS context token. */
export const TOKEN_CONTEXT = 0x02;
/** A `gss_wrap`ped message. */
export const TOKEN_DATA = 0x04;
/** The client expects a context token next. */
export const TOKEN_CONTEXT_NEXT = 0x10;
/** Protocol version 2 or later. */
export const TOKEN_PROTOCOL = 0x40;

/** Largest token including its 5-octet prefix (1 MiB). */
export const TOKEN_MAX_LENGTH = 1024 * 1024;
/** Largest input to one `gss_wrap` (64 KiB). */
export const TOKEN_MAX_DATA = 64 * 1024;

/** Message types. */
export const MESSAGE_COMMAND = 1;
/** Client: close the connection. */
export const MESSAGE_QUIT = 2;
/** Server: a chunk of standard output or error. */
export const MESSAGE_OUTPUT = 3;
/** Server: the command's exit status. */
export const MESSAGE_STATUS = 4;
/** Server: the command could not be run. */
export const MESSAGE_ERROR = 5;
/** Server: the highest protocol version it supports. */
export const MESSAGE_VERSION = 6;
/** Either side (version 3): keep the connection alive. */
export const MESSAGE_NOOP = 7;

/** Error codes of MESSAGE_ERROR (others may appear). */
export const REMOTE_ERRORS: Record<number, string> = {
  1: "ERROR_INTERNAL",
  2: "ERROR_BAD_TOKEN",
  3: "ERROR_UNKNOWN_MESSAGE",
  4: "ERROR_BAD_COMMAND",
  5: "ERROR_UNKNOWN_COMMAND",
  6: "ERROR_ACCESS",
  7: "ERROR_TOOMANY_ARGS",
  8: "ERROR_TOOMUCH_DATA",
  9: "ERROR_UNEXPECTED_MESSAGE",
  10: "ERROR_NO_HELP",
};

/** A token prefix and payload as one buffer (one write). */
export function encodeToken(flags: number, payload: Uint8Array): Uint8Array {
  const token = new Uint8Array(5 + payload.byteLength);
  token[0] = flags;
  new DataView(token.buffer).setUint32(1, payload.byteLength);
  token.set(payload, 5);
  return token;
}

/**
 * The unwrapped messages of one command: the argument vector split into
 * MESSAGE_COMMAND chunks whose wrapped size stays under the protocol's limit
 * (continue status 0 for one chunk, else 1, 2 ..., 3).
 */
export function commandMessages(
  args: readonly Uint8Array[],
  options: { keepAlive: boolean; chunkData: number; continued?: boolean },
): Uint8Array[] {
  let total = 4;
  for (const arg of args) total += 4 + arg.byteLength;
  const body = new Uint8Array(total);
  const view = new DataView(body.buffer);
  view.setUint32(0, args.length);
  let offset = 4;
  for (const arg of args) {
    view.setUint32(offset, arg.byteLength);
    body.set(arg, offset + 4);
    offset += 4 + arg.byteLength;
  }
  const messages: Uint8Array[] = [];
  const chunks = Math.max(1, Math.ceil(total / options.chunkData));
  for (let i = 0; i < chunks; i++) {
    const part = body.subarray(
      i * options.chunkData,
      (i + 1) * options.chunkData,
    );
    const last = i === chunks - 1;
    const status = options.continued
      ? (last ? 3 : 2)
      : chunks === 1
      ? 0
      : i === 0
      ? 1
      : last
      ? 3
      : 2;
    const message = new Uint8Array(4 + part.byteLength);
    message.set([2, MESSAGE_COMMAND, options.keepAlive ? 1 : 0, status]);
    message.set(part, 4);
    messages.push(message);
  }
  return messages;
}

/**
 * The empty start of a continued MESSAGE_COMMAND (continue status 1, no
 * data): the server waits for the rest without answering.
 */
export const EMPTY_COMMAND_START: Uint8Array = Uint8Array.of(
  2,
  MESSAGE_COMMAND,
  1,
  1,
);

/** MESSAGE_QUIT. */
export const QUIT_MESSAGE: Uint8Array = Uint8Array.of(2, MESSAGE_QUIT);

/** A decoded server message. */
export type ServerMessage =
  | { type: "output"; stream: 1 | 2; data: Uint8Array }
  | { type: "status"; status: number }
  | { type: "error"; code: number; message: string }
  | { type: "version"; highest: number }
  | { type: "noop" };

/** Decodes an unwrapped server message; throws a TypeError naming what is wrong. */
export function decodeServerMessage(data: Uint8Array): ServerMessage {
  if (data.byteLength < 2) {
    throw new TypeError(
      `Cannot read a remctl message of ${data.byteLength} bytes: expected at least 2`,
    );
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const [version, type] = data;
  const need = (length: number) => {
    if (data.byteLength < length) {
      throw new TypeError(
        `Cannot read a remctl message of type ${type}: expected at least ${length} bytes, got ${data.byteLength}`,
      );
    }
  };
  switch (type) {
    case MESSAGE_OUTPUT: {
      need(7);
      const stream = data[2];
      const length = view.getUint32(3);
      need(7 + length);
      if (stream !== 1 && stream !== 2) {
        throw new TypeError(
          `Cannot read a remctl output message: expected stream 1 or 2, got ${stream}`,
        );
      }
      return { type: "output", stream, data: data.slice(7, 7 + length) };
    }
    case MESSAGE_STATUS:
      need(3);
      return { type: "status", status: data[2] };
    case MESSAGE_ERROR: {
      need(10);
      const length = view.getUint32(6);
      need(10 + length);
      return {
        type: "error",
        code: view.getUint32(2),
        message: new TextDecoder().decode(data.subarray(10, 10 + length)),
      };
    }
    case MESSAGE_VERSION:
      need(3);
      return { type: "version", highest: data[2] };
    case MESSAGE_NOOP:
      return { type: "noop" };
    default:
      throw new TypeError(
        `Cannot read a remctl message: unknown type ${type} (protocol version ${version})`,
      );
  }
}
