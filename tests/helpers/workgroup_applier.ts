/**
 * Helpers of the applier tests: a workgroup applier seeded with two
 * workgroups by a first refresh, and events as short comparable strings.
 *
 * @module
 */

import type { WorkgroupEvent } from "../../lib/events/mod.ts";
import type { Store } from "../../lib/wgsync_ldap/store/mod.ts";
import {
  WorkgroupApplier,
  type WorkgroupApplierOptions,
} from "../../lib/wgsync_ldap/workgroups.ts";
import { group, person, refreshEnd } from "./consumer.ts";

/** Each event as "type workgroup [member id]", for comparisons. */
export function types(events: WorkgroupEvent[]): string[] {
  return events.map((e) =>
    `${e.type} ${e.workgroup}${e.member ? ` ${e.member.id}` : ""}`
  );
}

/** Loads two workgroups through a first refresh and returns the applier. */
export function seeded(
  store: Store,
  options: WorkgroupApplierOptions = {},
): WorkgroupApplier {
  const applier = new WorkgroupApplier(store, options);
  applier.beginSearch();
  applier.apply(
    group("add", 1, "research:alpha", [person("ann"), person("bob")], 1),
  );
  applier.apply(group("add", 2, "research:beta", [person("cat")], 2));
  applier.apply(refreshEnd("present", 2));
  return applier;
}
