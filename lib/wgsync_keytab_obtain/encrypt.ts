/**
 * The provisioning side: a clear keytab → the encrypted keytab file, with a
 * fresh data key from KMS GenerateDataKey bound to the instance.
 *
 * @module
 */
import type { KMSClient } from "@aws-sdk/client-kms";
import { STRONG_ENCTYPES } from "../config/sections/keytab_obtain.ts";
import { sealEnvelope } from "./envelope.ts";
import { checkKeytab, parseKeytab } from "./keytab.ts";
import { generateDataKey } from "./kms.ts";

/** Options of {@linkcode encryptKeytab}. */
export interface EncryptKeytabOptions {
  kms: KMSClient;
  /** The KMS key (id, ARN or alias) the data key is generated under. */
  keyId: string;
  /** `ldap` or `remctl`: names the encryption context. */
  instance: string;
  /** When set, the keytab must hold this principal (checked before encrypting). */
  principal?: string;
  /** Encryption types the keytab may hold. @default {STRONG_ENCTYPES} */
  allowedEnctypes?: readonly string[];
}

/**
 * Encrypts the keytab `input` (an MIT keytab, parsed first so a wrong file is
 * never sealed) into the file format of `envelope.ts`; returns its bytes.
 */
export async function encryptKeytab(
  keytab: Uint8Array,
  options: EncryptKeytabOptions,
): Promise<Uint8Array> {
  const entries = parseKeytab(keytab);
  if (options.principal !== undefined) {
    checkKeytab(entries, {
      principal: options.principal,
      allowedEnctypes: options.allowedEnctypes ?? STRONG_ENCTYPES,
    });
  }
  for (const entry of entries) entry.key.fill(0);
  const dataKey = await generateDataKey(
    options.kms,
    options.keyId,
    options.instance,
  );
  try {
    return await sealEnvelope(
      keytab,
      dataKey.plaintext,
      dataKey.ciphertextBlob,
    );
  } finally {
    dataKey.plaintext.fill(0);
  }
}
