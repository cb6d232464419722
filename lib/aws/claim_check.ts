/**
 * The claim-check pattern in the format of AWS's extended clients
 * (amazon-sqs-java-extended-client-lib, amazon-sns-java-extended-client-lib,
 * and their Python ports, all built on payload-offloading-java-common): a
 * body too large for SNS/SQS is stored as an S3 object and the message body
 * becomes the pointer
 *
 *     ["software.amazon.payloadoffloading.PayloadS3Pointer",
 *      {"s3BucketName":"BUCKET","s3Key":"KEY"}]
 *
 * with the Number message attribute `ExtendedPayloadSize` holding the
 * payload's size in bytes. A subscriber using those libraries reads such a
 * message unchanged. No npm package implements this format for the AWS SDK
 * v3 in JavaScript (the extended clients are Java and Python), so it is
 * written here: the writer (wgsync-event) and the reader (wgsync-remctl,
 * wgsync-web) share this one module.
 *
 * @module
 */

import {
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { optionChecks } from "../options.ts";

/** The class name the extended clients put first in a pointer. */
export const PAYLOAD_POINTER_CLASS =
  "software.amazon.payloadoffloading.PayloadS3Pointer";
/** The message attribute carrying the payload's size in bytes (type Number). */
export const EXTENDED_PAYLOAD_SIZE_ATTRIBUTE = "ExtendedPayloadSize";

/** Where a payload was stored. */
export interface PayloadPointer {
  bucket: string;
  key: string;
}

/** Raised for a malformed pointer or a payload that cannot be fetched or stored. */
export class ClaimCheckError extends Error {
  /** Constructs a ClaimCheckError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ClaimCheckError";
  }
}

/** The pointer text for a stored payload. */
export function encodePointer(pointer: PayloadPointer): string {
  return JSON.stringify([PAYLOAD_POINTER_CLASS, {
    s3BucketName: pointer.bucket,
    s3Key: pointer.key,
  }]);
}

/**
 * Detects a pointer: undefined when `body` is not one (any body that is not a
 * JSON array starting with the pointer class name), the pointer when it is
 * well-formed, a ClaimCheckError when it names the class but is malformed.
 */
export function parsePointer(body: string): PayloadPointer | undefined {
  if (!body.trimStart().startsWith("[")) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || value[0] !== PAYLOAD_POINTER_CLASS) {
    return undefined;
  }
  const target = value[1];
  const problem = value.length !== 2
    ? `expected 2 elements, found ${value.length}`
    : typeof target !== "object" || target === null || Array.isArray(target)
    ? "expected an object as the second element"
    : typeof target.s3BucketName !== "string" || target.s3BucketName === ""
    ? 'expected a non-empty string "s3BucketName"'
    : typeof target.s3Key !== "string" || target.s3Key === ""
    ? 'expected a non-empty string "s3Key"'
    : undefined;
  if (problem !== undefined) {
    throw new ClaimCheckError(
      `Cannot resolve the claim-check pointer as it is malformed: ${problem}, found ${
        clip(body)
      }`,
    );
  }
  return { bucket: target.s3BucketName, key: target.s3Key };
}

/** Options of {@linkcode ClaimCheckWriter}. */
export interface ClaimCheckWriterOptions {
  bucket: string;
  /** Prefix of every key; the key is `PREFIX + event id + ".json"`. @default {"events/"} */
  keyPrefix?: string;
}

/** A stored payload: the message body and attribute value to send instead. */
export interface StoredPayload {
  pointer: PayloadPointer;
  /** The pointer as the message body. */
  body: string;
  /** The payload's size in bytes, for `ExtendedPayloadSize`. */
  size: number;
}

const SAFE_ID = /^[A-Za-z0-9._-]{1,200}$/;

/**
 * Stores payloads under keys derived from the event id, so storing the same
 * event again (a re-send after a crash) overwrites the same object with the
 * same bytes and the pointer stays the same.
 */
export class ClaimCheckWriter {
  #s3: S3Client;
  #bucket: string;
  #prefix: string;

  /** Constructs a ClaimCheckWriter on `s3`. */
  constructor(s3: S3Client, options: ClaimCheckWriterOptions) {
    optionChecks("store claim-check payloads").matching(
      "bucket",
      options.bucket,
      {
        regexp: /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
        expected: "an S3 bucket name",
      },
    );
    this.#s3 = s3;
    this.#bucket = options.bucket;
    this.#prefix = options.keyPrefix ?? "events/";
  }

  /** The bucket payloads go to. */
  get bucket(): string {
    return this.#bucket;
  }

  /** The key of the event with this id. */
  keyFor(id: string): string {
    if (!SAFE_ID.test(id)) {
      throw new ClaimCheckError(
        `Cannot derive a claim-check key from the event id: expected 1-200 characters of A-Z a-z 0-9 . _ -, found ${
          clip(JSON.stringify(id))
        }`,
      );
    }
    return `${this.#prefix}${id}.json`;
  }

  /** Stores `body` (the event JSON) and returns the pointer to publish instead. */
  async store(id: string, body: string): Promise<StoredPayload> {
    const bytes = new TextEncoder().encode(body);
    const pointer = { bucket: this.#bucket, key: this.keyFor(id) };
    try {
      await this.#s3.send(
        new PutObjectCommand({
          Bucket: pointer.bucket,
          Key: pointer.key,
          Body: bytes,
          ContentType: "application/json",
        }),
      );
    } catch (error) {
      throw new ClaimCheckError(
        `Cannot store the claim-check payload in S3: bucket is "${pointer.bucket}", key is "${pointer.key}"`,
        { cause: error },
      );
    }
    return { pointer, body: encodePointer(pointer), size: bytes.length };
  }
}

/** Options of {@linkcode resolvePayload}. */
export interface ResolvePayloadOptions {
  /** The message's `ExtendedPayloadSize` attribute value, checked against the object when given. */
  size?: string | number;
  /** Buckets a pointer may name; any when absent. */
  allowedBuckets?: readonly string[];
}

/**
 * Returns the message's real body: `body` itself when it is not a pointer,
 * else the S3 object it points to. Throws a ClaimCheckError naming the
 * bucket and key for a malformed pointer, a bucket not allowed, a missing
 * object or a size that differs from `ExtendedPayloadSize`.
 */
export async function resolvePayload(
  s3: S3Client,
  body: string,
  options: ResolvePayloadOptions = {},
): Promise<string> {
  const pointer = parsePointer(body);
  if (pointer === undefined) return body;
  const where = `bucket is "${pointer.bucket}", key is "${pointer.key}"`;
  if (
    options.allowedBuckets !== undefined &&
    !options.allowedBuckets.includes(pointer.bucket)
  ) {
    throw new ClaimCheckError(
      `Cannot resolve the claim-check pointer as its bucket is not an allowed one: ${where}, expected one of ${
        JSON.stringify(options.allowedBuckets)
      }`,
    );
  }
  let bytes: Uint8Array;
  try {
    const object = await s3.send(
      new GetObjectCommand({ Bucket: pointer.bucket, Key: pointer.key }),
    );
    if (object.Body === undefined) throw new Error("GetObject had no body");
    bytes = await object.Body.transformToByteArray();
  } catch (error) {
    const name = error instanceof Error ? error.name : "";
    const missing = name === "NoSuchKey" || name === "NotFound" ||
      name === "NoSuchBucket";
    throw new ClaimCheckError(
      missing
        ? `Cannot resolve the claim-check pointer as the S3 object does not exist: ${where}`
        : `Cannot fetch the claim-check payload from S3: ${where}`,
      { cause: error },
    );
  }
  if (options.size !== undefined && Number(options.size) !== bytes.length) {
    throw new ClaimCheckError(
      `Cannot resolve the claim-check pointer as the S3 object's size differs from ExtendedPayloadSize: ${where}, expected ${options.size} bytes, found ${bytes.length}`,
    );
  }
  return new TextDecoder().decode(bytes);
}

function clip(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
