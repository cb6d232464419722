/**
 * The controls and messages of the LDAP Content Synchronization Operation
 * (RFC 4533) and the Cancel operation (RFC 3909).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { BerWriter, Control } from "ldapts";
import { BerError, BerInput } from "./ber.ts";
import type { SyncState } from "./sync_message.ts";

/** OIDs of RFC 4533 and RFC 3909. */
export const Oid = {
  syncRequest: "1.3.6.1.4.1.4203.1.9.1.1",
  syncState: "1.3.6.1.4.1.4203.1.9.1.2",
  syncDone: "1.3.6.1.4.1.4203.1.9.1.3",
  syncInfo: "1.3.6.1.4.1.4203.1.9.1.4",
  cancel: "1.3.6.1.1.8",
  startTls: "1.3.6.1.4.1.1466.20037",
  noticeOfDisconnection: "1.3.6.1.4.1.1466.20036",
} as const;

/** The two modes of a sync search. */
export type SyncMode = "refreshOnly" | "refreshAndPersist";

/** The Sync Request Control (RFC 4533 section 2.2), always critical. */
export class SyncRequestControl extends Control {
  /** The requested mode. */
  readonly mode: SyncMode;
  /** The cookie to resume from, if any. */
  readonly cookie: Uint8Array | undefined;
  /** Asks the server not to answer e-syncRefreshRequired but to send a full refresh. */
  readonly reloadHint: boolean;

  /** Creates the control for `mode`, resuming from `cookie` when given. */
  constructor(
    mode: SyncMode,
    options: { cookie?: Uint8Array; reloadHint?: boolean } = {},
  ) {
    super(Oid.syncRequest, { critical: true });
    this.mode = mode;
    this.cookie = options.cookie;
    this.reloadHint = options.reloadHint ?? false;
  }

  /** Writes the controlValue. */
  protected override writeControl(writer: BerWriter): void {
    const value = new BerWriter();
    value.startSequence();
    value.writeEnumeration(this.mode === "refreshOnly" ? 1 : 3);
    if (this.cookie !== undefined) {
      value.writeBuffer(toBuffer(this.cookie), 0x04);
    }
    if (this.reloadHint) value.writeBoolean(true);
    value.endSequence();
    writer.writeBuffer(value.buffer, 0x04);
  }
}

/** The value of a Sync State Control (RFC 4533 section 2.3). */
export interface SyncStateValue {
  state: SyncState;
  entryUUID: string;
  cookie?: Uint8Array;
}

const STATES: readonly SyncState[] = ["present", "add", "modify", "delete"];

/** Decodes a Sync State Control value. Throws {@linkcode BerError}. */
export function decodeSyncState(value: Uint8Array): SyncStateValue {
  const input = new BerInput(value);
  const end = input.enterWhole(0x30, "the syncStateValue");
  const code = input.integer(0x0a, "the sync state", end);
  const state = STATES[code];
  if (state === undefined) {
    throw new BerError(
      `the sync state ${code} is not present (0), add (1), modify (2) or delete (3)`,
    );
  }
  const entryUUID = formatUuid(input.bytes(0x04, "the entryUUID", end));
  const cookie = input.peek(end) === 0x04
    ? input.copy(0x04, "the cookie", end)
    : undefined;
  input.expectEnd(end, "the syncStateValue");
  return { state, entryUUID, cookie };
}

/** The value of a Sync Done Control (RFC 4533 section 2.4). */
export interface SyncDoneValue {
  cookie?: Uint8Array;
  refreshDeletes: boolean;
}

/** Decodes a Sync Done Control value. Throws {@linkcode BerError}. */
export function decodeSyncDone(value: Uint8Array): SyncDoneValue {
  const input = new BerInput(value);
  const end = input.enterWhole(0x30, "the syncDoneValue");
  const cookie = input.peek(end) === 0x04
    ? input.copy(0x04, "the cookie", end)
    : undefined;
  const refreshDeletes = input.peek(end) === 0x01
    ? input.boolean("refreshDeletes", end)
    : false;
  input.expectEnd(end, "the syncDoneValue");
  return { cookie, refreshDeletes };
}

/** A decoded Sync Info Message (RFC 4533 section 2.5). */
export type SyncInfoValue =
  | { type: "newcookie"; cookie: Uint8Array }
  | {
    type: "refreshDelete" | "refreshPresent";
    cookie?: Uint8Array;
    refreshDone: boolean;
  }
  | {
    type: "syncIdSet";
    cookie?: Uint8Array;
    refreshDeletes: boolean;
    entryUUIDs: string[];
  };

/** Decodes a Sync Info Message value. Throws {@linkcode BerError}. */
export function decodeSyncInfo(value: Uint8Array): SyncInfoValue {
  const input = new BerInput(value);
  const tag = input.peek();
  let info: SyncInfoValue;
  switch (tag) {
    case 0x80:
      info = { type: "newcookie", cookie: input.copy(0x80, "the newcookie") };
      break;
    case 0xa1:
    case 0xa2: {
      const type = tag === 0xa1 ? "refreshDelete" : "refreshPresent";
      const end = input.enter(tag, type);
      const cookie = input.peek(end) === 0x04
        ? input.copy(0x04, "the cookie", end)
        : undefined;
      const refreshDone = input.peek(end) === 0x01
        ? input.boolean("refreshDone", end)
        : true;
      input.expectEnd(end, type);
      info = { type, cookie, refreshDone };
      break;
    }
    case 0xa3: {
      const end = input.enter(tag, "the syncIdSet");
      const cookie = input.peek(end) === 0x04
        ? input.copy(0x04, "the cookie", end)
        : undefined;
      const refreshDeletes = input.peek(end) === 0x01
        ? input.boolean("refreshDeletes", end)
        : false;
      const setEnd = input.enter(0x31, "the syncUUIDs", end);
      const entryUUIDs: string[] = [];
      while (input.offset < setEnd) {
        entryUUIDs.push(formatUuid(input.bytes(0x04, "a syncUUID", setEnd)));
      }
      input.expectEnd(end, "the syncIdSet");
      info = { type: "syncIdSet", cookie, refreshDeletes, entryUUIDs };
      break;
    }
    default:
      throw new BerError(
        tag === undefined
          ? "the syncInfoValue is empty"
          : `the syncInfoValue has tag 0x${
            tag.toString(16)
          } (expected newcookie 0x80, refreshDelete 0xa1, refreshPresent 0xa2 or syncIdSet 0xa3)`,
      );
  }
  input.expectEnd(input.size, "the syncInfoValue");
  return info;
}

/** Encodes the value of a Cancel extended request (RFC 3909) for `messageId`. */
export function encodeCancelValue(messageId: number): Uint8Array {
  const writer = new BerWriter({ size: 16 });
  writer.startSequence();
  writer.writeInt(messageId);
  writer.endSequence();
  return writer.buffer;
}

const HEX = Array.from(
  { length: 256 },
  (_, i) => i.toString(16).padStart(2, "0"),
);

/** Formats a 16-byte syncUUID as the canonical 8-4-4-4-12 lower-case hex string. */
export function formatUuid(bytes: Uint8Array): string {
  if (bytes.length !== 16) {
    throw new BerError(
      `a syncUUID is ${bytes.length} bytes long (expected 16)`,
    );
  }
  const h = (i: number) => HEX[bytes[i]];
  return h(0) + h(1) + h(2) + h(3) + "-" + h(4) + h(5) + "-" + h(6) + h(7) +
    "-" + h(8) + h(9) + "-" + h(10) + h(11) + h(12) + h(13) + h(14) + h(15);
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
