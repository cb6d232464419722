/**
 * Helpers of the store tests: the store identity the tests open with, a store
 * populated with workgroups, and the tests' temporary directory (channel.ts's).
 *
 * @module
 */

import { openStore, WorkgroupApplier } from "../../lib/wgsync_ldap/mod.ts";
import { group, person, refreshEnd } from "./consumer.ts";

export { withDir } from "./channel.ts";

/** The identity every store test opens with. */
export const identity = {
  base: "ou=groups,dc=example,dc=org",
  filter: "(objectClass=groupOfNames)",
  bind: "ldap/wgsync@EXAMPLE.ORG",
};

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
