/**
 * keytab-obtain: the encrypted keytab → KMS Decrypt of its data key →
 * AES-256-GCM decrypt → keytab parsed and checked → written atomically under
 * /run, mode 0400, owned by the service user. Nothing is written unless every
 * step succeeded.
 *
 * @module
 */
import type { KMSClient } from "@aws-sdk/client-kms";
import type { z } from "zod";
import type { keytabObtainSchema } from "../config/schema.ts";
import { openEnvelope, parseEnvelope } from "./envelope.ts";
import { checkKeytab, enctypeName, parseKeytab } from "./keytab.ts";
import { decryptDataKey } from "./kms.ts";
import { lookupUser } from "./owner.ts";
import {
  removeStaleTemporaries,
  writeAtomically,
  type WriteAtomicallyOptions,
} from "./write.ts";

/** A validated `[keytab_obtain.<instance>]` section. */
export type KeytabObtainSettings = z.infer<typeof keytabObtainSchema>;

/** The keytab could not be obtained; the message names the file and the reason. */
export class KeytabObtainError extends Error {
  /** Builds the error; `path` is the file concerned. */
  constructor(
    instance: string,
    reason: string,
    path: string,
    options?: ErrorOptions,
  ) {
    super(
      `Cannot obtain the ${instance} keytab as ${reason}: path is "${path}"`,
      options,
    );
    this.name = "KeytabObtainError";
  }
}

/** Options of {@linkcode obtainKeytab}. */
export interface ObtainKeytabOptions {
  /** `ldap` or `remctl`: names the encryption context. */
  instance: string;
  kms: KMSClient;
  signal?: AbortSignal;
  /** Told about each KMS attempt that failed and will be retried. */
  onRetry?: (error: unknown, delayMs: number, attempt: number) => void;
  /** The passwd file to find `owner` in. @default {"/etc/passwd"} */
  passwd?: string;
  /** Passed to the writer (tests only). */
  beforeRename?: WriteAtomicallyOptions["beforeRename"];
}

/** What was written. */
export interface ObtainedKeytab {
  output: string;
  principal: string;
  /** `kvno N enctype` of each of the principal's keys. */
  keys: string[];
  staleTemporaries: number;
}

/** Decrypts, checks and writes the keytab; throws {@linkcode KeytabObtainError}. */
export async function obtainKeytab(
  settings: KeytabObtainSettings,
  options: ObtainKeytabOptions,
): Promise<ObtainedKeytab> {
  const { instance } = options;
  const source = settings.encrypted_keytab;
  const fail = (reason: string, path: string, cause?: unknown) =>
    new KeytabObtainError(instance, reason, path, { cause });
  const staleTemporaries = await removeStaleTemporaries(settings.output);
  let encrypted: Uint8Array;
  try {
    encrypted = await Deno.readFile(source);
  } catch (error) {
    throw fail(
      `the encrypted keytab cannot be read (${
        error instanceof Error ? error.message : error
      })`,
      source,
      error,
    );
  }
  let envelope;
  try {
    envelope = parseEnvelope(encrypted);
  } catch (error) {
    throw fail(
      `the encrypted keytab is not in its format: ${message(error)}`,
      source,
      error,
    );
  }
  let dataKey: Uint8Array;
  try {
    dataKey = await decryptDataKey(options.kms, envelope.encryptedKey, {
      instance,
      keyId: settings.kms_key_id,
      deadline: Date.now() + settings.timeout_seconds * 1000,
      signal: options.signal,
      onRetry: options.onRetry,
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw fail(
      `its data key was not decrypted: ${message(error)}`,
      source,
      error,
    );
  }
  let keytab: Uint8Array;
  try {
    keytab = await openEnvelope(envelope, dataKey);
  } catch (error) {
    throw fail(
      "the AES-256-GCM tag does not match: the file was changed or sealed with another data key",
      source,
      error,
    );
  } finally {
    dataKey.fill(0);
  }
  try {
    const allowedEnctypes: string[] = [...settings.allowed_enctypes];
    if (settings.allow_rc4) allowedEnctypes.push("arcfour-hmac");
    let own;
    try {
      own = checkKeytab(parseKeytab(keytab), {
        principal: settings.principal,
        allowedEnctypes,
      });
    } catch (error) {
      throw fail(
        `the decrypted keytab is not usable: ${message(error)}`,
        source,
        error,
      );
    }
    let owner;
    if (settings.owner !== undefined) {
      try {
        owner = await lookupUser(settings.owner, { passwd: options.passwd });
      } catch (error) {
        throw fail(message(error), settings.output, error);
      }
    }
    try {
      await writeAtomically(settings.output, keytab, {
        owner,
        beforeRename: options.beforeRename,
      });
    } catch (error) {
      throw fail(
        `it cannot be written: ${message(error)}`,
        settings.output,
        error,
      );
    }
    return {
      output: settings.output,
      principal: settings.principal,
      keys: own.map((entry) => {
        entry.key.fill(0);
        return `kvno ${entry.kvno} ${enctypeName(entry.enctype)}`;
      }),
      staleTemporaries,
    };
  } finally {
    keytab.fill(0);
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
