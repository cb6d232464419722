/**
 * The stems table (DynamoDB, key `stem`) as the site shows and edits it.
 * wgsync-event creates an item the first time it sees a stem
 * (`discoveredAt`, `discoveredFrom` — the first workgroup — `enabled = true`,
 * no `topicArn`; see lib/wgsync_event/stems.ts);
 * operators enable or disable a stem and set or clear its topic override.
 *
 * Listing reads the whole table (paginated Scan) and sorts and filters it in
 * memory: the table holds one small item per stem (hundreds, not millions),
 * and operators want it in order, which a Scan cannot give.
 *
 * @module
 */
import {
  type AttributeValue,
  type DynamoDBClient,
  ScanCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";

/** One stem as the site shows it. */
export interface Stem {
  stem: string;
  enabled: boolean;
  /** The stem's own topic; undefined: the default topic. */
  topicArn?: string;
  /** ISO-8601 time wgsync-event first saw the stem. */
  discoveredAt?: string;
  /** The workgroup it was first seen in. */
  discoveredFrom?: string;
}

/** One page of stems. */
export interface StemPage {
  stems: Stem[];
  /** Stems matching the search, over all pages. */
  total: number;
  page: number;
  pages: number;
}

/** A change an operator made; old and new values as the table held them. */
export interface StemChange {
  stem: string;
  field: "enabled" | "topicArn";
  oldValue: string;
  newValue: string;
}

/** Raised when a stem cannot be changed as asked. */
export class StemError extends Error {
  /** Constructs a StemError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StemError";
  }
}

/** An SNS FIFO topic ARN (as `[event].topic_arn`). */
const TOPIC_ARN =
  /^arn:aws[a-z-]*:sns:[^:]+:[0-9]{12}:[A-Za-z0-9_-]{1,251}\.fifo$/;

/** Reads and edits the stems table. */
export class StemTable {
  #client: DynamoDBClient;
  #table: string;

  /** Uses `client` on `table`. */
  constructor(client: DynamoDBClient, table: string) {
    this.#client = client;
    this.#table = table;
  }

  /** Every stem, sorted by name. */
  async all(): Promise<Stem[]> {
    const stems: Stem[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.#client.send(
        new ScanCommand({ TableName: this.#table, ExclusiveStartKey: start }),
      );
      for (const item of page.Items ?? []) {
        const stem = toStem(item);
        if (stem !== undefined) stems.push(stem);
      }
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return stems.sort((
      a,
      b,
    ) => (a.stem < b.stem ? -1 : a.stem > b.stem ? 1 : 0));
  }

  /** The stems whose name or first workgroup contains `query`, one page. */
  async search(
    query: string,
    options: { page?: number; pageSize?: number } = {},
  ): Promise<StemPage> {
    const pageSize = options.pageSize ?? 50;
    const needle = query.trim().toLowerCase();
    const matching = (await this.all()).filter((stem) =>
      needle === "" || stem.stem.toLowerCase().includes(needle) ||
      (stem.discoveredFrom ?? "").toLowerCase().includes(needle)
    );
    const pages = Math.max(1, Math.ceil(matching.length / pageSize));
    const page = Math.min(Math.max(1, Math.trunc(options.page ?? 1)), pages);
    return {
      stems: matching.slice((page - 1) * pageSize, page * pageSize),
      total: matching.length,
      page,
      pages,
    };
  }

  /** Enables or disables an existing stem; returns the change. */
  async setEnabled(stem: string, enabled: boolean): Promise<StemChange> {
    const old = await this.#update(stem, {
      UpdateExpression: "SET #enabled = :enabled",
      ExpressionAttributeNames: { "#stem": "stem", "#enabled": "enabled" },
      ExpressionAttributeValues: { ":enabled": { BOOL: enabled } },
    });
    return {
      stem,
      field: "enabled",
      oldValue: String(old.enabled),
      newValue: String(enabled),
    };
  }

  /** Sets (or, with "", clears) an existing stem's topic override. */
  async setTopic(stem: string, topicArn: string): Promise<StemChange> {
    const arn = topicArn.trim();
    if (arn !== "" && !TOPIC_ARN.test(arn)) {
      throw new StemError(
        `Cannot set the topic of stem "${stem}" as it is not the ARN of an SNS FIFO topic: value is "${arn}"`,
      );
    }
    const old = await this.#update(
      stem,
      arn === ""
        ? {
          UpdateExpression: "REMOVE #topic",
          ExpressionAttributeNames: { "#stem": "stem", "#topic": "topicArn" },
        }
        : {
          UpdateExpression: "SET #topic = :topic",
          ExpressionAttributeNames: { "#stem": "stem", "#topic": "topicArn" },
          ExpressionAttributeValues: { ":topic": { S: arn } },
        },
    );
    return {
      stem,
      field: "topicArn",
      oldValue: old.topicArn ?? "",
      newValue: arn,
    };
  }

  async #update(
    stem: string,
    expression: {
      UpdateExpression: string;
      ExpressionAttributeNames: Record<string, string>;
      ExpressionAttributeValues?: Record<string, AttributeValue>;
    },
  ): Promise<Stem> {
    try {
      const result = await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#table,
          Key: { stem: { S: stem } },
          ConditionExpression: "attribute_exists(#stem)",
          ReturnValues: "ALL_OLD",
          ...expression,
        }),
      );
      return toStem(result.Attributes ?? {}) ?? { stem, enabled: true };
    } catch (error) {
      if ((error as Error)?.name === "ConditionalCheckFailedException") {
        throw new StemError(
          `Cannot change stem "${stem}" as the table "${this.#table}" has no such stem`,
          { cause: error },
        );
      }
      throw error;
    }
  }
}

function toStem(item: Record<string, AttributeValue>): Stem | undefined {
  const stem = item.stem?.S;
  if (stem === undefined) return undefined;
  return {
    stem,
    // wgsync-event treats a missing flag as enabled (the default).
    enabled: item.enabled?.BOOL ?? true,
    topicArn: item.topicArn?.S,
    discoveredAt: item.discoveredAt?.S,
    discoveredFrom: item.discoveredFrom?.S,
  };
}
