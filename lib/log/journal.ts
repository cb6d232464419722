/**
 * The native journal protocol of systemd-journald: field names, the datagram
 * encoding of one entry, and fitting an entry into one datagram.
 *
 * An entry is a sequence of fields. A value without a newline is sent as
 * `NAME=value\n`; any other value in the binary form `NAME\n`, its length as
 * a 64-bit little-endian integer, the bytes, `\n`.
 *
 * @module
 */

/** A journal entry: field names to values (text is sent as UTF-8). */
export type JournalFields = Record<string, string | Uint8Array>;

/** The longest field name journald accepts. */
export const FIELD_NAME_MAX = 64;

/**
 * How many bytes one entry may take by default. A Unix datagram holds at most
 * the sender's buffer size less a little (212,960 bytes with Linux's default
 * `net.core.wmem_default` of 212,992); this leaves room for smaller settings.
 */
export const DEFAULT_ENTRY_MAX_BYTES = 200_000;

const encoder = new TextEncoder();
const NEWLINE = 0x0a;

/**
 * Whether `name` is a field name a client may send: `A`–`Z`, `0`–`9` and `_`,
 * not starting with `_` (those are journald's own) or a digit, 1–64 long.
 */
export function isJournalFieldName(name: string): boolean {
  return name.length <= FIELD_NAME_MAX && /^[A-Z][A-Z0-9_]*$/.test(name);
}

/**
 * The journal field for a structured property: camelCase becomes SNAKE_CASE,
 * other characters `_`, with `prefix` in front, cut to 64 characters:
 * `eventId` → `WGSYNC_EVENT_ID`.
 */
export function journalFieldName(property: string, prefix = "WGSYNC_"): string {
  const snake = property
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
  const name = `${prefix}${snake || "PROPERTY"}`.slice(0, FIELD_NAME_MAX);
  if (!isJournalFieldName(name)) {
    throw new TypeError(
      `Cannot name a journal field as the prefix is invalid: prefix is "${prefix}" (expected A-Z, 0-9 and _, starting with a letter)`,
    );
  }
  return name;
}

/**
 * Encodes one journal entry as one datagram of the native protocol. Throws a
 * TypeError naming the field when a field name is not valid.
 */
export function encodeJournalEntry(fields: JournalFields): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  for (const [name, value] of Object.entries(fields)) {
    if (!isJournalFieldName(name)) {
      throw new TypeError(
        `Cannot encode the journal entry as a field name is invalid: name is "${name}" (expected A-Z, 0-9 and _, starting with a letter, at most ${FIELD_NAME_MAX} characters)`,
      );
    }
    const part = encodeField(name, toBytes(value));
    parts.push(part);
    size += part.length;
  }
  const datagram = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    datagram.set(part, offset);
    offset += part.length;
  }
  return datagram;
}

/**
 * Shortens the largest values until the encoded entry takes at most
 * `maxBytes`. A shortened value keeps its start (cut at a character boundary
 * for text) and ends in `…[truncated N of M bytes]`. Returns the fields
 * unchanged when they fit.
 */
export function fitJournalEntry(
  fields: JournalFields,
  maxBytes: number = DEFAULT_ENTRY_MAX_BYTES,
): JournalFields {
  const entries = Object.entries(fields).map(([name, value]) => ({
    name,
    text: typeof value === "string",
    bytes: toBytes(value),
    kept: undefined as Uint8Array | undefined,
    original: 0,
  }));
  const sizeOf = (entry: (typeof entries)[number]) =>
    fieldSize(entry.name, currentValue(entry));
  let total = entries.reduce((sum, entry) => sum + sizeOf(entry), 0);
  if (total <= maxBytes) return fields;
  while (total > maxBytes) {
    const largest = entries
      .filter((entry) => (entry.kept ?? entry.bytes).length > 0)
      .reduce<(typeof entries)[number] | undefined>(
        (best, entry) =>
          best === undefined ||
            (entry.kept ?? entry.bytes).length >
              (best.kept ?? best.bytes).length
            ? entry
            : best,
        undefined,
      );
    if (largest === undefined) {
      throw new RangeError(
        `Cannot fit the journal entry into ${maxBytes} bytes even with every value cut`,
      );
    }
    const before = sizeOf(largest);
    const content = largest.kept ?? largest.bytes;
    if (largest.kept === undefined) largest.original = largest.bytes.length;
    // Room for the marker; the loop runs again if that was not enough.
    const target = Math.max(0, content.length - (total - maxBytes) - 48);
    largest.kept = content.subarray(
      0,
      largest.text ? utf8Boundary(content, target) : target,
    );
    total += sizeOf(largest) - before;
  }
  const fitted: JournalFields = {};
  for (const entry of entries) {
    const value = currentValue(entry);
    fitted[entry.name] = entry.text ? new TextDecoder().decode(value) : value;
  }
  return fitted;
}

function currentValue(
  entry: { bytes: Uint8Array; kept?: Uint8Array; original: number },
): Uint8Array {
  if (entry.kept === undefined) return entry.bytes;
  const marker = encoder.encode(
    `…[truncated ${
      entry.original - entry.kept.length
    } of ${entry.original} bytes]`,
  );
  const value = new Uint8Array(entry.kept.length + marker.length);
  value.set(entry.kept);
  value.set(marker, entry.kept.length);
  return value;
}

/** The largest index ≤ `index` that starts a UTF-8 character. */
function utf8Boundary(bytes: Uint8Array, index: number): number {
  let cut = Math.min(index, bytes.length);
  while (cut > 0 && cut < bytes.length && (bytes[cut] & 0xc0) === 0x80) cut--;
  return cut;
}

function toBytes(value: string | Uint8Array): Uint8Array {
  return typeof value === "string" ? encoder.encode(value) : value;
}

function fieldSize(name: string, value: Uint8Array): number {
  return value.includes(NEWLINE)
    ? name.length + 1 + 8 + value.length + 1
    : name.length + 1 + value.length + 1;
}

function encodeField(name: string, value: Uint8Array): Uint8Array {
  const part = new Uint8Array(fieldSize(name, value));
  const nameBytes = encoder.encode(name);
  part.set(nameBytes);
  let offset = nameBytes.length;
  if (value.includes(NEWLINE)) {
    part[offset++] = NEWLINE;
    new DataView(part.buffer).setBigUint64(offset, BigInt(value.length), true);
    offset += 8;
  } else {
    part[offset++] = 0x3d; // "="
  }
  part.set(value, offset);
  part[offset + value.length] = NEWLINE;
  return part;
}
