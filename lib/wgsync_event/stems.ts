/**
 * The stems table behind a cache with dogpile semantics, built on
 * `npm:lru-cache`'s `fetch()`: one DynamoDB lookup in flight per stem while
 * the other callers wait for it, a stale value served while one refresh
 * runs in the background (and kept when the refresh fails), a bad item (a
 * "negative" answer) cached only briefly, at most `max` stems.
 *
 * A stem seen for the first time gets its item created with a conditional
 * put (`attribute_not_exists(stem)`): when and from which workgroup it was
 * discovered, `enabled = true`, no `topicArn`. The process that loses the
 * race to create it reads the winner's item (consistently).
 *
 * An item: `stem` (S, key), `enabled` (BOOL, true when absent), `topicArn`
 * (S, optional: an SNS FIFO topic replacing the default), `discoveredAt`
 * (S, ISO-8601), `discoveredFrom` (S, a workgroup name).
 *
 * @module
 */

import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import { LRUCache } from "lru-cache";
import { optionChecks } from "../options.ts";

/** How a stem is handled. */
export type StemInfo =
  | { kind: "stem"; enabled: boolean; topicArn?: string }
  /** The item exists but cannot be used; events of the stem wait. */
  | { kind: "invalid"; reason: string };

/** How a lookup was answered (the `result` label of the cache metric). */
export type CacheResult = "hit" | "miss" | "stale" | "inflight" | "refresh";

/** Options of {@linkcode StemDirectory}. */
export interface StemDirectoryOptions {
  dynamo: DynamoDBClient;
  table: string;
  /** How long an answer is fresh, in ms. */
  ttlMs: number;
  /** How long an invalid item's answer is kept, in ms. @default {min(ttlMs, 10000)} */
  negativeTtlMs?: number;
  /** Stems kept. @default {10000} */
  max?: number;
  /** Called on every lookup with how the cache answered it. */
  onLookup?: (result: CacheResult) => void;
  /** Called when this process created a stem's item. */
  onCreated?: (stem: string, workgroup: string) => void;
  /** Called when another process created the item first (it was read again). */
  onLostRace?: (stem: string, item: Record<string, AttributeValue>) => void;
}

/** Raised when the stems table cannot be read or written. */
export class StemLookupError extends Error {
  /** Constructs a StemLookupError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StemLookupError";
  }
}

const FIFO_TOPIC_ARN = /^arn:aws[a-z-]*:sns:[^:]+:[0-9]{12}:.+\.fifo$/;

/** The stems table through its cache. */
export class StemDirectory {
  #dynamo: DynamoDBClient;
  #table: string;
  #negativeTtlMs: number;
  #onLookup: StemDirectoryOptions["onLookup"];
  #onCreated: StemDirectoryOptions["onCreated"];
  #onLostRace: StemDirectoryOptions["onLostRace"];
  #cache: LRUCache<string, StemInfo, string>;
  /** Why the last load of a stem failed (lru-cache resolves such a fetch to undefined). */
  #failures = new Map<string, unknown>();

  /** Constructs a StemDirectory; nothing is read until the first lookup. */
  constructor(options: StemDirectoryOptions) {
    const check = optionChecks("cache stems");
    check.positiveNumber("ttlMs", options.ttlMs);
    if (options.negativeTtlMs !== undefined) {
      check.positiveNumber("negativeTtlMs", options.negativeTtlMs);
    }
    if (options.max !== undefined) check.positiveInteger("max", options.max);
    this.#dynamo = options.dynamo;
    this.#table = options.table;
    this.#negativeTtlMs = options.negativeTtlMs ??
      Math.min(options.ttlMs, 10_000);
    this.#onLookup = options.onLookup;
    this.#onCreated = options.onCreated;
    this.#onLostRace = options.onLostRace;
    this.#cache = new LRUCache<string, StemInfo, string>({
      max: options.max ?? 10_000,
      ttl: options.ttlMs,
      allowStale: true,
      allowStaleOnFetchRejection: true,
      noDeleteOnFetchRejection: true,
      fetchMethod: (stem, _stale, { options: fetchOptions, context }) =>
        this.#load(stem, context, fetchOptions),
    });
  }

  /**
   * The stem's settings; `workgroup` is recorded as where a new stem was
   * discovered. Rejects with a StemLookupError when DynamoDB cannot be
   * reached and no earlier answer is cached.
   */
  async lookup(stem: string, workgroup: string): Promise<StemInfo> {
    const status: LRUCache.Status<string, StemInfo, string> = {};
    const info = await this.#cache.fetch(stem, { context: workgroup, status });
    this.#onLookup?.(
      status.fetch === "get" ? "hit" : status.fetch ?? "miss",
    );
    if (info === undefined) {
      throw this.#failures.get(stem) ??
        new StemLookupError(
          `Cannot look up the stem as the lookup was abandoned: stem is "${stem}"`,
        );
    }
    return info;
  }

  async #load(
    stem: string,
    workgroup: string,
    fetchOptions: LRUCache.FetcherFetchOptions<string, StemInfo, string>,
  ): Promise<StemInfo> {
    let item;
    try {
      item = await this.#get(stem, false) ??
        await this.#create(stem, workgroup);
    } catch (error) {
      this.#failures.set(stem, error);
      throw error;
    }
    this.#failures.delete(stem);
    const info = parseItem(item);
    if (info.kind === "invalid") fetchOptions.ttl = this.#negativeTtlMs;
    return info;
  }

  async #get(
    stem: string,
    consistent: boolean,
  ): Promise<Record<string, AttributeValue> | undefined> {
    try {
      const result = await this.#dynamo.send(
        new GetItemCommand({
          TableName: this.#table,
          Key: { stem: { S: stem } },
          ConsistentRead: consistent,
        }),
      );
      return result.Item;
    } catch (error) {
      throw new StemLookupError(
        `Cannot read the stem's item from DynamoDB: table is "${this.#table}", stem is "${stem}"`,
        { cause: error },
      );
    }
  }

  /** Creates the item, or reads the one another process created first. */
  async #create(
    stem: string,
    workgroup: string,
  ): Promise<Record<string, AttributeValue>> {
    const item: Record<string, AttributeValue> = {
      stem: { S: stem },
      enabled: { BOOL: true },
      discoveredAt: { S: new Date().toISOString() },
      discoveredFrom: { S: workgroup },
    };
    try {
      await this.#dynamo.send(
        new PutItemCommand({
          TableName: this.#table,
          Item: item,
          ConditionExpression: "attribute_not_exists(stem)",
        }),
      );
      this.#onCreated?.(stem, workgroup);
      return item;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) {
        throw new StemLookupError(
          `Cannot create the new stem's item in DynamoDB: table is "${this.#table}", stem is "${stem}"`,
          { cause: error },
        );
      }
    }
    const winner = await this.#get(stem, true);
    if (winner === undefined) {
      throw new StemLookupError(
        `Cannot read the stem's item that another process created: table is "${this.#table}", stem is "${stem}"`,
      );
    }
    this.#onLostRace?.(stem, winner);
    return winner;
  }
}

/** Reads an item's settings, or why it cannot be used. */
export function parseItem(item: Record<string, AttributeValue>): StemInfo {
  const enabled = item.enabled;
  if (enabled !== undefined && enabled.BOOL === undefined) {
    return {
      kind: "invalid",
      reason: `attribute "enabled" expected a BOOL, found ${
        Object.keys(enabled)[0]
      }`,
    };
  }
  const topic = item.topicArn;
  if (topic === undefined || topic.NULL === true) {
    return { kind: "stem", enabled: enabled?.BOOL ?? true };
  }
  if (topic.S === undefined || !FIFO_TOPIC_ARN.test(topic.S)) {
    return {
      kind: "invalid",
      reason:
        `attribute "topicArn" expected the ARN of an SNS FIFO topic (S), found ${
          JSON.stringify(topic.S ?? Object.keys(topic)[0])
        }`,
    };
  }
  return { kind: "stem", enabled: enabled?.BOOL ?? true, topicArn: topic.S };
}
