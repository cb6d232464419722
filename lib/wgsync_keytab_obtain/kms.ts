/**
 * The KMS calls of keytab-obtain: Decrypt of a data key (retried with
 * backoff while KMS is unreachable, until a deadline) and GenerateDataKey
 * for the provisioning side.
 *
 * @module
 */
import {
  DecryptCommand,
  GenerateDataKeyCommand,
  type KMSClient,
} from "@aws-sdk/client-kms";
import { sleep } from "../async.ts";
import { backoffDelay, resolveBackoff } from "../backoff.ts";
import { encryptionContext } from "./envelope.ts";

/** KMS answered, and refused: retrying cannot help. */
export class KmsRefusedError extends Error {
  /** Builds the error from KMS's answer. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KmsRefusedError";
  }
}

/** KMS could not be reached (or kept failing) until the deadline. */
export class KmsUnreachableError extends Error {
  /** Builds the error from the last failure. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KmsUnreachableError";
  }
}

/** Options of {@linkcode decryptDataKey}. */
export interface DecryptDataKeyOptions {
  /** The instance named in the encryption context (`ldap`, `remctl`). */
  instance: string;
  /** Accept only a data key of this KMS key. @default {any key KMS allows} */
  keyId?: string;
  /** Give up retrying at this time (`Date.now()` milliseconds). */
  deadline: number;
  /** Aborts waiting between attempts. */
  signal?: AbortSignal;
  /** Told about each failed attempt that will be retried. */
  onRetry?: (error: unknown, delayMs: number, attempt: number) => void;
}

/** Errors of a KMS that answered: the request itself is wrong. */
const REFUSALS = new Set([
  "InvalidCiphertextException",
  "IncorrectKeyException",
  "AccessDeniedException",
  "NotFoundException",
  "DisabledException",
  "InvalidKeyUsageException",
  "KMSInvalidStateException",
  "InvalidGrantTokenException",
  "UnrecognizedClientException",
  "ValidationException",
]);

/** Whether a failed KMS call may succeed when retried. */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (REFUSALS.has(error.name)) return false;
  const status = (error as { $metadata?: { httpStatusCode?: number } })
    .$metadata?.httpStatusCode;
  // No HTTP status: the request never got an answer (refused, reset, timeout).
  return status === undefined || status >= 500 || status === 429 ||
    error.name === "ThrottlingException";
}

/**
 * Has KMS decrypt a data key bound to `instance`'s encryption context.
 * Retries unreachable or failing KMS with backoff and jitter until
 * `deadline`; throws {@linkcode KmsRefusedError} at once when KMS refuses
 * (wrong context, wrong key) and {@linkcode KmsUnreachableError} at the
 * deadline.
 */
export async function decryptDataKey(
  kms: KMSClient,
  encryptedKey: Uint8Array,
  options: DecryptDataKeyOptions,
): Promise<Uint8Array> {
  const backoff = resolveBackoff({ minDelay: 250, maxDelay: 5_000 });
  for (let attempt = 1;; attempt++) {
    try {
      const answer = await kms.send(
        new DecryptCommand({
          CiphertextBlob: encryptedKey,
          EncryptionContext: encryptionContext(options.instance),
          ...(options.keyId === undefined ? {} : { KeyId: options.keyId }),
        }),
        { abortSignal: options.signal },
      );
      if (!(answer.Plaintext instanceof Uint8Array)) {
        throw new KmsRefusedError("KMS answered Decrypt without a Plaintext");
      }
      if (answer.Plaintext.length !== 32) {
        throw new KmsRefusedError(
          `expected a 256-bit data key from KMS, found ${
            answer.Plaintext.length * 8
          } bits`,
        );
      }
      return answer.Plaintext;
    } catch (error) {
      if (error instanceof KmsRefusedError) throw error;
      options.signal?.throwIfAborted();
      if (!isRetryable(error)) {
        throw new KmsRefusedError(
          `KMS refused to decrypt the data key for the encryption context {"wgsync:keytab": "${options.instance}"}: ${
            describe(error)
          }`,
          { cause: error },
        );
      }
      const delay = backoffDelay(backoff, attempt);
      if (Date.now() + delay >= options.deadline) {
        throw new KmsUnreachableError(
          `KMS stayed unreachable for ${attempt} attempt(s) until the deadline: ${
            describe(error)
          }`,
          { cause: error },
        );
      }
      options.onRetry?.(error, delay, attempt);
      await sleep(delay, { signal: options.signal });
      options.signal?.throwIfAborted();
    }
  }
}

/** A new data key: in clear (to encrypt with, then forget) and encrypted by KMS. */
export interface DataKey {
  plaintext: Uint8Array;
  ciphertextBlob: Uint8Array;
}

/** Has KMS generate a 256-bit data key under `keyId`, bound to `instance`. */
export async function generateDataKey(
  kms: KMSClient,
  keyId: string,
  instance: string,
): Promise<DataKey> {
  const answer = await kms.send(
    new GenerateDataKeyCommand({
      KeyId: keyId,
      KeySpec: "AES_256",
      EncryptionContext: encryptionContext(instance),
    }),
  );
  if (
    !(answer.Plaintext instanceof Uint8Array) ||
    !(answer.CiphertextBlob instanceof Uint8Array)
  ) {
    throw new KmsRefusedError(
      "KMS answered GenerateDataKey without Plaintext and CiphertextBlob",
    );
  }
  return {
    plaintext: answer.Plaintext,
    ciphertextBlob: answer.CiphertextBlob,
  };
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.name}: ${error.message}${cause}`;
}
