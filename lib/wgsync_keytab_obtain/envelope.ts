/**
 * The encrypted keytab file: an envelope of a KMS data key and the keytab
 * encrypted under it with AES-256-GCM (WebCrypto).
 *
 * ```
 * offset  size  field
 * 0       4     magic "WGKT"
 * 4       1     version, 1
 * 5       2     N, big-endian: length of the KMS CiphertextBlob
 * 7       N     CiphertextBlob: the 256-bit data key encrypted by KMS with the
 *               encryption context {"wgsync:keytab": INSTANCE}
 * 7+N     12    IV (random per file)
 * 19+N    rest  AES-256-GCM ciphertext of the keytab, then its 16-byte tag
 * ```
 * The GCM additional data is bytes 0 to 7+N (magic, version, blob), so the
 * ciphertext cannot be paired with another data key. The instance is not
 * stored: the reader supplies it, and KMS refuses a blob made for another.
 *
 * @module
 */

/** The first four bytes of an encrypted keytab. */
export const MAGIC = new TextEncoder().encode("WGKT");
/** The format version written and read. */
export const VERSION = 1;
/** The IV length of AES-GCM. */
export const IV_BYTES = 12;
/** The GCM tag length. */
export const TAG_BYTES = 16;

/** The KMS encryption context binding a data key to an instance. */
export function encryptionContext(instance: string): Record<string, string> {
  return { "wgsync:keytab": instance };
}

/** The parts of an encrypted keytab file. */
export interface Envelope {
  /** The KMS-encrypted data key. */
  encryptedKey: Uint8Array;
  iv: Uint8Array;
  /** Ciphertext with the tag at its end. */
  ciphertext: Uint8Array;
  /** The bytes authenticated as GCM additional data. */
  additionalData: Uint8Array;
}

/** An encrypted keytab file that is not in the format. */
export class EnvelopeFormatError extends Error {
  /** Builds the error from what was wrong. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EnvelopeFormatError";
  }
}

/** Splits an encrypted keytab file; throws {@linkcode EnvelopeFormatError}. */
export function parseEnvelope(bytes: Uint8Array): Envelope {
  if (
    bytes.length < 7 || !MAGIC.every((byte, index) => bytes[index] === byte)
  ) {
    throw new EnvelopeFormatError(
      'expected an encrypted keytab starting with "WGKT", found other data',
    );
  }
  if (bytes[4] !== VERSION) {
    throw new EnvelopeFormatError(
      `expected format version ${VERSION}, found ${bytes[4]}`,
    );
  }
  const keyLength = (bytes[5] << 8) | bytes[6];
  const headerEnd = 7 + keyLength;
  if (keyLength === 0 || bytes.length < headerEnd + IV_BYTES + TAG_BYTES) {
    throw new EnvelopeFormatError(
      `expected a data key of ${keyLength} bytes, an IV and a tag, found a file of ${bytes.length} bytes`,
    );
  }
  return {
    encryptedKey: bytes.slice(7, headerEnd),
    iv: bytes.slice(headerEnd, headerEnd + IV_BYTES),
    ciphertext: bytes.slice(headerEnd + IV_BYTES),
    additionalData: bytes.slice(0, headerEnd),
  };
}

/** The header (magic, version, blob): the GCM additional data. */
export function envelopeHeader(encryptedKey: Uint8Array): Uint8Array {
  if (encryptedKey.length === 0 || encryptedKey.length > 0xffff) {
    throw new RangeError(
      `Cannot store a data key of ${encryptedKey.length} bytes: expected 1 to 65535`,
    );
  }
  const header = new Uint8Array(7 + encryptedKey.length);
  header.set(MAGIC, 0);
  header[4] = VERSION;
  header[5] = encryptedKey.length >> 8;
  header[6] = encryptedKey.length & 0xff;
  header.set(encryptedKey, 7);
  return header;
}

/** Decrypts the keytab with the clear data key; a wrong key or a changed byte throws. */
export async function openEnvelope(
  envelope: Envelope,
  dataKey: Uint8Array,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    dataKey as Uint8Array<ArrayBuffer>,
    "AES-GCM",
    false,
    ["decrypt"],
  );
  const clear = await crypto.subtle.decrypt(
    {
      name: "AES-GCM",
      iv: envelope.iv as Uint8Array<ArrayBuffer>,
      additionalData: envelope.additionalData as Uint8Array<ArrayBuffer>,
      tagLength: TAG_BYTES * 8,
    },
    key,
    envelope.ciphertext as Uint8Array<ArrayBuffer>,
  );
  return new Uint8Array(clear);
}

/** Encrypts `keytab` under the clear data key into the file's bytes. */
export async function sealEnvelope(
  keytab: Uint8Array,
  dataKey: Uint8Array,
  encryptedKey: Uint8Array,
): Promise<Uint8Array> {
  const header = envelopeHeader(encryptedKey);
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const key = await crypto.subtle.importKey(
    "raw",
    dataKey as Uint8Array<ArrayBuffer>,
    "AES-GCM",
    false,
    ["encrypt"],
  );
  const ciphertext = new Uint8Array(
    await crypto.subtle.encrypt(
      {
        name: "AES-GCM",
        iv,
        additionalData: header as Uint8Array<ArrayBuffer>,
        tagLength: TAG_BYTES * 8,
      },
      key,
      keytab as Uint8Array<ArrayBuffer>,
    ),
  );
  const file = new Uint8Array(header.length + IV_BYTES + ciphertext.length);
  file.set(header, 0);
  file.set(iv, header.length);
  file.set(ciphertext, header.length + IV_BYTES);
  return file;
}
