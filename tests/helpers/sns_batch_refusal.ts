/**
 * Per-entry failures of SNS `PublishBatch` for the test relay
 * (aws_relay.ts), which moto cannot be made to produce: the relay takes the
 * entries a test picks, and every later entry of the same message group in
 * that call (an order-keeping FIFO cannot accept a group's later entry after
 * refusing an earlier one), out of the request it forwards to moto and adds
 * them to the answer's `Failed` list as `InternalError` (a server-side
 * fault, so the client retries). A fake of the one thing moto cannot do; the
 * other entries reach moto unchanged.
 *
 * @module
 */

/** A PublishBatch entry as the relay sees it. */
export interface BatchEntry {
  /** The entry's `Id` within the call (e.g. "e3"). */
  id: string;
  groupId: string;
  dedupId: string;
}

/** Picks the entries to refuse; `call` is every entry of the call, in order. */
export type EntryRefusal = (
  entry: BatchEntry,
  call: readonly BatchEntry[],
) => boolean;

/** What to forward and what to add to the answer. */
export interface RefusedBatch {
  /** The request body without the refused entries; undefined when none is left. */
  forward: Uint8Array<ArrayBuffer> | undefined;
  /** The refused entries, in request order. */
  refused: BatchEntry[];
}

const PREFIX = "PublishBatchRequestEntries.member.";

/** Splits a PublishBatch form body into the entries to forward and those refused. */
export function refuseEntries(
  body: Uint8Array,
  refuse: EntryRefusal,
): RefusedBatch {
  const params = new URLSearchParams(new TextDecoder().decode(body));
  const rest = new URLSearchParams();
  const members = new Map<number, [string, string][]>();
  for (const [key, value] of params) {
    if (!key.startsWith(PREFIX)) {
      rest.append(key, value);
      continue;
    }
    const tail = key.slice(PREFIX.length);
    const dot = tail.indexOf(".");
    const n = Number(tail.slice(0, dot));
    const fields = members.get(n) ?? [];
    fields.push([tail.slice(dot + 1), value]);
    members.set(n, fields);
  }
  const ordered = [...members.keys()].sort((a, b) => a - b).map((n) => {
    const fields = members.get(n)!;
    const field = (name: string) =>
      fields.find(([key]) => key === name)?.[1] ?? "";
    const entry: BatchEntry = {
      id: field("Id"),
      groupId: field("MessageGroupId"),
      dedupId: field("MessageDeduplicationId"),
    };
    return { entry, fields };
  });
  const call = ordered.map(({ entry }) => entry);
  const refusedGroups = new Set<string>();
  const refused: BatchEntry[] = [];
  let kept = 0;
  for (const { entry, fields } of ordered) {
    if (refusedGroups.has(entry.groupId) || refuse(entry, call)) {
      refusedGroups.add(entry.groupId);
      refused.push(entry);
      continue;
    }
    kept++;
    for (const [key, value] of fields) {
      rest.append(`${PREFIX}${kept}.${key}`, value);
    }
  }
  return {
    forward: kept === 0 ? undefined : new TextEncoder().encode(rest.toString()),
    refused,
  };
}

/** Adds `refused` to the `Failed` list of moto's PublishBatch answer, or writes a whole answer when moto was not asked. */
export function withRefused(
  answer: string | undefined,
  refused: readonly BatchEntry[],
): string {
  const members = refused.map((entry) =>
    `<member><Id>${entry.id}</Id><Code>InternalError</Code><Message>refused by the test relay</Message><SenderFault>false</SenderFault></member>`
  ).join("");
  if (answer === undefined) {
    return `<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishBatchResult><Successful/><Failed>${members}</Failed></PublishBatchResult><ResponseMetadata><RequestId>${crypto.randomUUID()}</RequestId></ResponseMetadata></PublishBatchResponse>`;
  }
  if (answer.includes("<Failed>")) {
    return answer.replace("<Failed>", `<Failed>${members}`);
  }
  if (/<Failed\s*\/>/.test(answer)) {
    return answer.replace(/<Failed\s*\/>/, `<Failed>${members}</Failed>`);
  }
  if (!answer.includes("</PublishBatchResult>")) {
    throw new Error(
      `Cannot add refused entries to moto's PublishBatch answer: expected a PublishBatchResult, got ${
        answer.slice(0, 200)
      }`,
    );
  }
  return answer.replace(
    "</PublishBatchResult>",
    `<Failed>${members}</Failed></PublishBatchResult>`,
  );
}
