/**
 * Test helpers that change and read the stack's real slapd as its admin
 * (through ldap-utils) and read sync streams with a time limit.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { BindOptions, SyncMessage } from "../../lib/ldap/mod.ts";
import type { StackInfo } from "./stack.ts";
import { ldapUtil } from "../../tasks/stack/ldap_admin.ts";

export { ldapUtil };

/** Simple-bind options for the stack's admin. */
export function adminBind(stack: StackInfo): BindOptions {
  return {
    method: "simple",
    dn: stack.ldap.adminDn,
    passwordFile: stack.ldap.adminPasswordFile,
  };
}

/** LDIF adding a groupOfNames workgroup. */
export function groupLdif(dn: string, cn: string, members: string[]): string {
  return `dn: ${dn}\nobjectClass: groupOfNames\ncn: ${cn}\n${
    members.map((member) => `member: ${member}\n`).join("")
  }\n`;
}

/** Creates `ou=NAME,SUFFIX` holding `groups` workgroups; returns its DN and the group DNs. */
export async function container(
  stack: StackInfo,
  groups: number,
): Promise<{ base: string; groups: string[] }> {
  const ou = `t${crypto.randomUUID().slice(0, 8)}`;
  const base = `ou=${ou},${stack.ldap.suffix}`;
  const dns = Array.from(
    { length: groups },
    (_, i) => `cn=${ou}:g${i},${base}`,
  );
  await ldapUtil(
    stack,
    "ldapadd",
    `dn: ${base}\nobjectClass: organizationalUnit\nou: ${ou}\n\n` +
      dns.map((dn, i) =>
        groupLdif(dn, `${ou}:g${i}`, [`uid=m${i},${stack.ldap.peopleBase}`])
      ).join(""),
  );
  return { base, groups: dns };
}

/** The entryUUID of `dn`, read with ldapsearch. */
export async function entryUUID(stack: StackInfo, dn: string): Promise<string> {
  const out = await ldapUtil(stack, "ldapsearch", "", [
    "-LLL",
    "-b",
    dn,
    "-s",
    "base",
    "entryUUID",
  ]);
  const match = /^entryUUID: (.+)$/m.exec(out);
  assert.ok(match, `no entryUUID for ${dn} in ${out}`);
  return match[1];
}

/** The next sync message, or undefined at the end; rejects after `ms`. */
export async function nextWithin(
  iterator: AsyncIterator<SyncMessage>,
  ms = 15_000,
): Promise<SyncMessage | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no sync message within ${ms} ms`)),
      ms,
    );
  });
  try {
    const result = await Promise.race([iterator.next(), timeout]);
    return result.done ? undefined : result.value;
  } finally {
    clearTimeout(timer);
  }
}

/** Reads messages up to and including the first for which `until` is true. */
export async function readUntil(
  iterator: AsyncIterator<SyncMessage>,
  until: (message: SyncMessage) => boolean,
): Promise<SyncMessage[]> {
  const messages: SyncMessage[] = [];
  for (;;) {
    const message = await nextWithin(iterator);
    if (message === undefined) return messages;
    messages.push(message);
    if (until(message)) return messages;
  }
}
