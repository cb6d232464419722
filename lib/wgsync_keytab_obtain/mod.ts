/**
 * wgsync-keytab-obtain: decrypts a KMS-enveloped keytab into /run, and seals
 * keytabs into that envelope for provisioning.
 *
 * @module
 */
export {
  KeytabObtainError,
  type KeytabObtainSettings,
  type ObtainedKeytab,
  obtainKeytab,
  type ObtainKeytabOptions,
} from "./obtain.ts";
export { encryptKeytab, type EncryptKeytabOptions } from "./encrypt.ts";
export { encryptionContext, parseEnvelope } from "./envelope.ts";
export {
  checkKeytab,
  enctypeName,
  type KeytabEntry,
  KeytabFormatError,
  parseKeytab,
} from "./keytab.ts";
export { KmsRefusedError, KmsUnreachableError } from "./kms.ts";
export { temporaryPrefix } from "./write.ts";
