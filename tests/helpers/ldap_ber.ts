/**
 * BER encoders of LDAP messages and of the RFC 4533 sync controls for the
 * scripted LDAP server (scripted_ldap_server.ts): definite lengths, and any
 * bytes can be spliced in, so a test builds broken messages as easily as good
 * ones.
 *
 * @module
 */

const encoder = new TextEncoder();

/** A TLV with `tag` around the concatenated `parts`. */
export function tlv(
  tag: number,
  ...parts: (Uint8Array | string)[]
): Uint8Array {
  const content = concat(
    ...parts.map((p) => typeof p === "string" ? encoder.encode(p) : p),
  );
  return concat(new Uint8Array([tag]), length(content.length), content);
}

/** The BER definite length of `n`. */
export function length(n: number): Uint8Array {
  if (n < 0x80) return new Uint8Array([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return new Uint8Array([0x80 | bytes.length, ...bytes]);
}

/** An INTEGER (or ENUMERATED with tag 0x0a) in the fewest bytes. */
export function int(value: number, tag = 0x02): Uint8Array {
  const bytes: number[] = [];
  let v = value;
  do {
    bytes.unshift(v & 0xff);
    v >>= 8;
  } while (v !== 0 && v !== -1);
  if ((bytes[0] & 0x80) !== (value < 0 ? 0x80 : 0)) {
    bytes.unshift(value < 0 ? 0xff : 0);
  }
  return tlv(tag, new Uint8Array(bytes));
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** An LDAPMessage. */
export function message(
  messageId: number,
  op: Uint8Array,
  controls: Uint8Array[] = [],
): Uint8Array {
  return tlv(
    0x30,
    int(messageId),
    op,
    ...(controls.length ? [tlv(0xa0, ...controls)] : []),
  );
}

/** A Control. */
export function control(
  oid: string,
  critical: boolean,
  value?: Uint8Array,
): Uint8Array {
  return tlv(
    0x30,
    tlv(0x04, oid),
    ...(critical ? [tlv(0x01, new Uint8Array([0xff]))] : []),
    ...(value ? [tlv(0x04, value)] : []),
  );
}

function result(code: number, diagnostic = ""): Uint8Array[] {
  return [int(code, 0x0a), tlv(0x04, ""), tlv(0x04, diagnostic)];
}

/** A BindResponse. */
export function bindResponse(messageId: number, code: number): Uint8Array {
  return message(messageId, tlv(0x61, ...result(code)));
}

/** An ExtendedResponse. */
export function extendedResponse(
  messageId: number,
  code: number,
  name?: string,
  diagnostic = "",
): Uint8Array {
  return message(
    messageId,
    tlv(0x78, ...result(code, diagnostic), ...(name ? [tlv(0x8a, name)] : [])),
  );
}

/** A SearchResultDone. */
export function searchDone(
  messageId: number,
  code: number,
  controls: Uint8Array[] = [],
): Uint8Array {
  return message(messageId, tlv(0x65, ...result(code)), controls);
}

/** A SearchResultEntry; attribute values may be raw bytes. */
export function searchEntry(
  messageId: number,
  dn: string,
  attributes: Record<string, (string | Uint8Array)[]>,
  controls: Uint8Array[],
): Uint8Array {
  return message(
    messageId,
    tlv(
      0x64,
      tlv(0x04, dn),
      tlv(
        0x30,
        ...Object.entries(attributes).map(([name, values]) =>
          tlv(
            0x30,
            tlv(0x04, name),
            tlv(0x31, ...values.map((v) => tlv(0x04, v))),
          )
        ),
      ),
    ),
    controls,
  );
}

/** 16 bytes of a syncUUID whose canonical form ends in the hex of `n`. */
export function uuidBytes(n: number): Uint8Array {
  const bytes = new Uint8Array(16);
  new DataView(bytes.buffer).setUint32(12, n);
  return bytes;
}

/** The canonical string of {@linkcode uuidBytes}. */
export function uuidString(n: number): string {
  return `00000000-0000-0000-0000-0000${n.toString(16).padStart(8, "0")}`;
}

/** A Sync State Control (0 present, 1 add, 2 modify, 3 delete). */
export function syncState(
  state: number,
  uuid: Uint8Array,
  cookie?: string,
): Uint8Array {
  return control(
    "1.3.6.1.4.1.4203.1.9.1.2",
    false,
    tlv(
      0x30,
      int(state, 0x0a),
      tlv(0x04, uuid),
      ...(cookie ? [tlv(0x04, cookie)] : []),
    ),
  );
}

/** A Sync Done Control. */
export function syncDone(cookie?: string, refreshDeletes = false): Uint8Array {
  return control(
    "1.3.6.1.4.1.4203.1.9.1.3",
    false,
    tlv(
      0x30,
      ...(cookie ? [tlv(0x04, cookie)] : []),
      ...(refreshDeletes ? [tlv(0x01, new Uint8Array([0xff]))] : []),
    ),
  );
}

/** An IntermediateResponse carrying a Sync Info Message value. */
export function syncInfo(messageId: number, value: Uint8Array): Uint8Array {
  return message(
    messageId,
    tlv(0x79, tlv(0x80, "1.3.6.1.4.1.4203.1.9.1.4"), tlv(0x81, value)),
  );
}

/** A refreshDelete (0xa1) or refreshPresent (0xa2) Sync Info value. */
export function refreshInfo(
  tag: 0xa1 | 0xa2,
  cookie?: string,
  refreshDone = true,
): Uint8Array {
  return tlv(
    tag,
    ...(cookie ? [tlv(0x04, cookie)] : []),
    ...(refreshDone ? [] : [tlv(0x01, new Uint8Array([0x00]))]),
  );
}

// ---- request parsing ----
