/**
 * Reading a workgroup entry: its name (the name attribute, else the RDN),
 * its member values keyed for comparison, and the attribute options.
 *
 * @module
 */

import { dnKey, rdnValue } from "./member.ts";
import { optionChecks } from "../options.ts";

/** Checks an attribute-name option and returns it lower-cased. */
export function attributeOption(option: string, value: string): string {
  return optionChecks("create the workgroup applier").matching(option, value, {
    regexp: /^[a-zA-Z][a-zA-Z0-9-]*$/,
    expected: "an LDAP attribute name",
  }).toLowerCase();
}

/**
 * The workgroup's name: the single value of `nameAttribute`, else the RDN
 * value when the RDN is of that attribute (also to choose among several
 * values), else the first value; undefined when there is none.
 */
export function workgroupName(
  dn: string,
  attributes: Record<string, string[]>,
  nameAttribute: string,
): string | undefined {
  const values = attributes[nameAttribute];
  if (values !== undefined && values.length === 1) return values[0];
  const eq = dn.indexOf("=");
  const rdnIsName = eq > 0 &&
    dn.slice(0, eq).trim().toLowerCase() === nameAttribute;
  if (values === undefined || values.length === 0) {
    return rdnIsName ? rdnValue(dn) : undefined;
  }
  if (values.length > 1 && rdnIsName) {
    const rdn = rdnValue(dn);
    if (values.includes(rdn)) return rdn;
  }
  return values[0];
}

/**
 * The members among an entry's member values: all but the placeholder, the
 * empty DN (`groupOfNames` needs a member, so an "empty" workgroup holds
 * that one), which is no member. Also applied to lists stored by earlier
 * versions, which kept it.
 */
export function memberValues(values: readonly string[]): string[] {
  return values.includes("") ? values.filter((value) => value !== "") : [
    ...values,
  ];
}

/** Member values by their DN key (the first value of each key). */
export function keyed(values: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const value of values) {
    const key = dnKey(value);
    if (!map.has(key)) map.set(key, value);
  }
  return map;
}
