/**
 * The `[keytab_obtain.*]` sections: the keytab-obtain oneshots
 * (`[keytab_obtain.ldap]`, `[keytab_obtain.remctl]`).
 *
 * @module
 */
import { z } from "zod";
import { absolutePath, seconds } from "./values.ts";

/**
 * Encryption types a keytab may hold. DES and RC4 are never in this list:
 * RC4 is allowed only with `allow_rc4 = true`, single DES and 3DES never.
 */
export const STRONG_ENCTYPES = [
  "aes256-cts-hmac-sha384-192",
  "aes128-cts-hmac-sha256-128",
  "aes256-cts-hmac-sha1-96",
  "aes128-cts-hmac-sha1-96",
  "camellia256-cts-cmac",
  "camellia128-cts-cmac",
] as const;

/** A keytab-obtain oneshot: KMS-decrypt an encrypted keytab into /run. */
export const keytabObtainSchema = z.strictObject({
  /** The encrypted keytab (format in the README; made by `wgsync-keytab-obtain encrypt`). */
  encrypted_keytab: absolutePath,
  output: absolutePath.regex(/^\/run\//, {
    message: "expected a path under /run (keytabs never rest in clear)",
  }),
  /** The principal the keytab must hold, with its realm. */
  principal: z.string().regex(/^[^@\s]+@[^@\s]+$/, {
    message: 'expected a principal with its realm, e.g. "service/x@REALM"',
  }),
  /** The system user that owns the decrypted keytab (its service's user); unset: the running user. */
  owner: z.string().regex(/^[a-z_][a-z0-9_-]*\$?$/, {
    message: 'expected a system user name such as "wgsync-ldap"',
  }).optional(),
  /** Only data keys under this KMS key (id, ARN or alias) are accepted; unset: any key KMS allows. */
  kms_key_id: z.string().min(1).optional(),
  /** Encryption types accepted in the keytab. */
  allowed_enctypes: z.array(z.enum(STRONG_ENCTYPES)).min(1).default([
    ...STRONG_ENCTYPES,
  ]),
  /** Also accept RC4 (arcfour-hmac) keys. */
  allow_rc4: z.boolean().default(false),
  /** How long KMS may stay unreachable (retried with backoff) before giving up. */
  timeout_seconds: seconds.default(90),
});
