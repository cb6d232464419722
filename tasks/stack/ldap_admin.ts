/**
 * Running ldap-utils (ldapadd, ldapmodify, ldapsearch, …) against the stack's
 * slapd as its admin, for tasks, benchmarks and tests.
 *
 * @module
 */
import type { StackInfo } from "./types.ts";

/** The ldap-utils arguments that bind as the stack's admin over plain LDAP. */
export function adminArgs(info: StackInfo): string[] {
  return [
    "-x",
    "-H",
    info.ldap.url,
    "-D",
    info.ldap.adminDn,
    "-y",
    info.ldap.adminPasswordFile,
  ];
}

/** Options for {@linkcode ldapUtil}. */
export interface LdapUtilOptions {
  /** Kill the tool after this long, so a hung slapd fails instead of stalling. @default {60_000} */
  timeoutMs?: number;
}

/** Runs an ldap-utils tool as the stack's admin with `input` on stdin; returns stdout. */
export async function ldapUtil(
  info: StackInfo,
  tool: string,
  input: string,
  args: string[] = [],
  options: LdapUtilOptions = {},
): Promise<string> {
  const child = new Deno.Command(tool, {
    args: [...adminArgs(info), ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
  }).spawn();
  // Read while writing: a large input would otherwise fill the stdout pipe.
  const pending = child.output();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const output = await pending;
  if (!output.success) {
    throw new Error(
      `${tool} ${args.join(" ")} failed (exit ${output.code}): ${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
  return new TextDecoder().decode(output.stdout);
}
