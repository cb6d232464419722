/**
 * Helpers of the store tests: a temporary directory, the store identity the
 * tests open with, a store populated with workgroups.
 *
 * @module
 */

import { openStore, WorkgroupApplier } from "../../lib/wgsync_ldap/mod.ts";
import { group, person, refreshEnd } from "./consumer.ts";

/** The identity every store test opens with. */
export const identity = {
  base: "ou=groups,dc=example,dc=org",
  filter: "(objectClass=groupOfNames)",
  bind: "ldap/wgsync@EXAMPLE.ORG",
};

/** Runs `fn` in a fresh temporary directory, removed afterwards. */
export async function withDir(
  fn: (dir: string) => Promise<void> | void,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-store-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Creates a store at `path` holding `n` workgroups, a cookie and their events. */
export function populate(path: string, n: number): void {
  const { store } = openStore(path, { identity });
  const applier = new WorkgroupApplier(store);
  applier.beginSearch();
  for (let i = 1; i <= n; i++) {
    applier.apply(group("add", i, `s:g${i}`, [person(`u${i}`)], i));
  }
  applier.apply(refreshEnd("present", n));
  store.close();
}
