/**
 * The synthetic data of `tasks/bench_consumer.ts`: entryUUIDs, CSNs, member
 * DNs and the sync messages of a first refresh, plus the scenarios' small
 * helpers (temporary directory, file size, auth key, peak RSS).
 *
 * @module
 */

import type { SyncMessage } from "../../lib/ldap/sync_message.ts";

/** The peak RSS of this process (VmHWM), in KiB. */
export function vmHwmKb(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

/** The `i`th entryUUID. */
export function uuid(i: number): string {
  const h = i.toString(16).padStart(32, "0");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${
    h.slice(16, 20)
  }-${h.slice(20)}`;
}

/** The `i`th entryCSN. */
export function csn(i: number): string {
  return `20250101000000.${String(i).padStart(6, "0")}Z#000000#000#000000`;
}

/** Encodes cookies. */
export const enc = new TextEncoder();

/** The `m` member DNs of workgroup `i`. */
export function memberDns(i: number, m: number): string[] {
  const out = new Array<string>(m);
  for (let j = 0; j < m; j++) {
    out[j] = `uid=user${(i * 7 + j) % 200000},ou=people,dc=example,dc=org`;
  }
  return out;
}

/** The sync messages of a first refresh of `groups` workgroups × `members` members. */
export function* refreshMessages(
  groups: number,
  members: number,
): Generator<SyncMessage> {
  for (let i = 0; i < groups; i++) {
    const name = `stem${i % 100}:group${i}`;
    yield {
      kind: "entry",
      state: "add",
      entryUUID: uuid(i),
      dn: `cn=${name},ou=groups,dc=example,dc=org`,
      attributes: {
        cn: [name],
        member: memberDns(i, members),
        entrycsn: [csn(i)],
      },
    };
  }
  yield {
    kind: "refreshEnd",
    phase: "present",
    refreshDone: true,
    refreshDeletes: false,
    cookie: enc.encode(`rid=000,csn=${csn(groups)}`),
  };
}

/** A new temporary directory for one scenario. */
export async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "wgsync-bench-" });
}

/** The size of a file in bytes, 0 when it does not exist. */
export function sizeOf(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}

/** Writes a new channel auth key file in `dir` and returns its path. */
export async function writeKey(dir: string): Promise<string> {
  const keyFile = `${dir}/auth.key`;
  const key = crypto.getRandomValues(new Uint8Array(32));
  await Deno.writeTextFile(
    keyFile,
    Array.from(key, (b) => b.toString(16).padStart(2, "0")).join(""),
    { mode: 0o600 },
  );
  return keyFile;
}
