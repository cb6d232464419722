/**
 * A parser for MIT Kerberos keytab files (format 0x0502), used to check a
 * decrypted keytab before it is written to `/run`.
 *
 * Hand-written because no JavaScript library reads keytabs: the npm packages
 * around Kerberos (`kerberos`, `krb5`) wrap the C library's GSSAPI/kinit and
 * never expose keytab entries, and shelling out to `klist -k -e -t` would
 * need the clear keytab in a file before it is known to be valid. The format
 * is small and fixed (MIT krb5 `src/lib/krb5/keytab/kt_file.c` and
 * `doc/formats/keytab_file_format.rst`):
 *
 * ```
 * keytab  = uint16 0x0502, entry*
 * entry   = int32 size (< 0: a hole of -size bytes), then size bytes:
 *           uint16 count, data realm, data component[count],
 *           uint32 name_type, uint32 timestamp, uint8 kvno,
 *           uint16 enctype, data key, [uint32 kvno (overrides when != 0)]
 * data    = uint16 length, bytes
 * ```
 * All integers are big-endian in version 0x0502; version 0x0501 (native
 * byte order, from 1990s implementations) is refused.
 *
 * @module
 */

/** Kerberos encryption type numbers (RFC 3961, 3962, 4757, 6803, 8009). */
export const ENCTYPE_NAMES: Readonly<Record<number, string>> = {
  1: "des-cbc-crc",
  2: "des-cbc-md4",
  3: "des-cbc-md5",
  5: "des3-cbc-md5",
  7: "des3-cbc-sha1",
  16: "des3-cbc-sha1-kd",
  17: "aes128-cts-hmac-sha1-96",
  18: "aes256-cts-hmac-sha1-96",
  19: "aes128-cts-hmac-sha256-128",
  20: "aes256-cts-hmac-sha384-192",
  23: "arcfour-hmac",
  24: "arcfour-hmac-exp",
  25: "camellia128-cts-cmac",
  26: "camellia256-cts-cmac",
};

/** The name of an encryption type number, e.g. 18 → `aes256-cts-hmac-sha1-96`. */
export function enctypeName(enctype: number): string {
  return ENCTYPE_NAMES[enctype] ?? `enctype ${enctype}`;
}

/** One key of a keytab. The key bytes are kept out of `toString`/JSON by being a typed array. */
export interface KeytabEntry {
  /** `comp1/comp2@REALM`. */
  principal: string;
  nameType: number;
  /** Seconds since the epoch when the key was written. */
  timestamp: number;
  kvno: number;
  enctype: number;
  key: Uint8Array;
}

/** A keytab that cannot be read; the message says where and why. */
export class KeytabFormatError extends Error {
  /** Builds the error from what was wrong. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KeytabFormatError";
  }
}

/** Parses an MIT keytab (version 0x0502); throws {@linkcode KeytabFormatError}. */
export function parseKeytab(bytes: Uint8Array): KeytabEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 2) {
    throw new KeytabFormatError(
      `expected a keytab of at least 2 bytes, found ${bytes.length}`,
    );
  }
  const version = view.getUint16(0);
  if (version !== 0x0502) {
    throw new KeytabFormatError(
      `expected keytab version 0x0502, found 0x${
        version.toString(16).padStart(4, "0")
      }`,
    );
  }
  const entries: KeytabEntry[] = [];
  let offset = 2;
  while (offset < bytes.length) {
    if (bytes.length - offset < 4) {
      throw new KeytabFormatError(
        `expected a 4-byte entry size at offset ${offset}, found ${
          bytes.length - offset
        } byte(s)`,
      );
    }
    const size = view.getInt32(offset);
    offset += 4;
    const length = Math.abs(size);
    if (length > bytes.length - offset) {
      throw new KeytabFormatError(
        `expected an entry of ${length} bytes at offset ${offset}, found ${
          bytes.length - offset
        }`,
      );
    }
    if (size > 0) {
      entries.push(
        parseEntry(new DataView(bytes.buffer, bytes.byteOffset + offset, size)),
      );
    }
    offset += length;
  }
  return entries;
}

function parseEntry(view: DataView): KeytabEntry {
  let offset = 0;
  const need = (n: number, what: string) => {
    if (view.byteLength - offset < n) {
      throw new KeytabFormatError(
        `expected ${what} (${n} bytes) inside an entry of ${view.byteLength} bytes, found ${
          view.byteLength - offset
        }`,
      );
    }
  };
  const u16 = (what: string) => {
    need(2, what);
    const value = view.getUint16(offset);
    offset += 2;
    return value;
  };
  const u32 = (what: string) => {
    need(4, what);
    const value = view.getUint32(offset);
    offset += 4;
    return value;
  };
  const data = (what: string) => {
    const length = u16(`the length of ${what}`);
    need(length, what);
    const value = new Uint8Array(
      view.buffer.slice(
        view.byteOffset + offset,
        view.byteOffset + offset + length,
      ),
    );
    offset += length;
    return value;
  };
  const text = (what: string) => new TextDecoder().decode(data(what));
  const count = u16("the component count");
  const realm = text("the realm");
  const components: string[] = [];
  for (let i = 0; i < count; i++) components.push(text(`component ${i + 1}`));
  const nameType = u32("the name type");
  const timestamp = u32("the timestamp");
  need(1, "the 8-bit kvno");
  let kvno = view.getUint8(offset);
  offset += 1;
  const enctype = u16("the enctype");
  const key = data("the key");
  if (view.byteLength - offset >= 4) {
    const kvno32 = view.getUint32(offset);
    if (kvno32 !== 0) kvno = kvno32;
  }
  return {
    principal: `${components.join("/")}@${realm}`,
    nameType,
    timestamp,
    kvno,
    enctype,
    key,
  };
}

/** What a keytab must hold. */
export interface KeytabRequirements {
  /** The principal with its realm. */
  principal: string;
  /** Encryption type names every key must have. */
  allowedEnctypes: readonly string[];
}

/**
 * Checks a parsed keytab: it holds `principal`, and every key has an allowed
 * encryption type (a weak key of any principal is refused, not skipped: the
 * file is re-exported without it, e.g. `ktadd -e aes256-cts-hmac-sha1-96:normal`).
 * Returns the principal's keys; throws {@linkcode KeytabFormatError}.
 */
export function checkKeytab(
  entries: readonly KeytabEntry[],
  requirements: KeytabRequirements,
): KeytabEntry[] {
  const weak = entries.filter((entry) =>
    !requirements.allowedEnctypes.includes(enctypeName(entry.enctype))
  );
  if (weak.length > 0) {
    throw new KeytabFormatError(
      `expected only keys of the encryption types ${
        requirements.allowedEnctypes.join(", ")
      }, found ${
        weak.map((entry) =>
          `${entry.principal} kvno ${entry.kvno} ${enctypeName(entry.enctype)}`
        ).join(", ")
      }`,
    );
  }
  const own = entries.filter((entry) =>
    entry.principal === requirements.principal
  );
  if (own.length === 0) {
    const found = [...new Set(entries.map((entry) => entry.principal))];
    throw new KeytabFormatError(
      `expected a key of ${requirements.principal}, found ${
        found.length === 0 ? "no keys" : `keys of ${found.join(", ")} only`
      }`,
    );
  }
  return own;
}
