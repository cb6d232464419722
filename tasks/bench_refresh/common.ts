/**
 * What every section of `deno task bench:refresh` uses: the local stack it
 * starts and stops, the ldapsearch anchor and its arguments, the refresh
 * targets (simple bind or SASL GSSAPI), option parsing and the median.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import type { BindOptions } from "../../lib/ldap/mod.ts";
import { adminArgs } from "../stack/ldap_admin.ts";
import type { StackInfo } from "../stack/types.ts";

const STACK_CLI = fileURLToPath(new URL("../stack.ts", import.meta.url));

/** The workgroups searched: every group entry. */
export const FILTER = "(objectClass=groupOfNames)";

/** What the client-vs-ldapsearch comparison requests. */
export const ATTRIBUTES = ["cn", "member"];

/** What the role requests: the entryCSN makes the event ids. */
export const STORE_ATTRIBUTES = ["cn", "member", "entryCSN"];

/** Where and how a refresh connects. */
export interface Target {
  url: string;
  base: string;
  bind: BindOptions;
}

/** One refresh: its time, entries and member values. */
export interface Measure {
  ms: number;
  entries: number;
  members: number;
}

/** The value of option `--name` as a positive integer; throws naming the option. */
export function positiveInteger(name: string, value: string): number {
  const number = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(number) || number < 1) {
    throw new Error(`--${name} is "${value}": expected a positive integer`);
  }
  return number;
}

/** Runs a command and returns its standard output; throws with its standard error on failure. */
export async function run(
  command: string,
  args: string[],
  env?: Record<string, string>,
): Promise<string> {
  const output = await new Deno.Command(command, {
    args,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `${command} ${args.join(" ")} failed (exit ${output.code}): ${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
  return new TextDecoder().decode(output.stdout);
}

/** Starts a local stack in `dir` loaded with `groups` workgroups of `members` members. */
export async function stackUp(
  dir: string,
  groups: number,
  members: number,
): Promise<StackInfo> {
  console.error(
    `bench: loading ${groups} workgroups × ${members} members into ${dir}`,
  );
  const out = await run(Deno.execPath(), [
    "run",
    "--frozen",
    "--cached-only",
    "--allow-all",
    STACK_CLI,
    "up",
    dir,
    "--groups",
    String(groups),
    "--members",
    String(members),
  ]);
  return JSON.parse(out) as StackInfo;
}

/** Stops the stack in `dir` and removes the directory unless `keep`. */
export async function stackDown(dir: string, keep: boolean): Promise<void> {
  await run(Deno.execPath(), ["run", "--allow-all", STACK_CLI, "down", dir]);
  if (!keep) await Deno.remove(dir, { recursive: true });
}

function kerberosEnv(stack: StackInfo): Record<string, string> {
  return {
    KRB5_CONFIG: stack.krb5Config,
    KRB5CCNAME: `FILE:${stack.ccaches.ldapClient}`,
  };
}

/** ldapsearch arguments for a `!sync=ro` refresh of the workgroups. */
export function ldapsearchArgs(
  stack: StackInfo,
  gssapi: boolean,
  attributes = ATTRIBUTES,
): string[] {
  const auth = gssapi
    ? [
      "-Y",
      "GSSAPI",
      "-N",
      "-Q",
      "-O",
      "minssf=256",
      "-H",
      stack.ldap.gssapiUrl,
    ]
    : adminArgs(stack);
  return [
    ...auth,
    "-b",
    stack.ldap.workgroupBase,
    "-s",
    "one",
    "-E",
    "!sync=ro",
    FILTER,
    ...attributes,
  ];
}

/** Times ldapsearch writing its output to /dev/null. */
export async function timeLdapsearch(
  stack: StackInfo,
  gssapi: boolean,
  attributes = ATTRIBUTES,
): Promise<number> {
  const started = performance.now();
  const status = await new Deno.Command("ldapsearch", {
    args: ldapsearchArgs(stack, gssapi, attributes),
    env: gssapi ? kerberosEnv(stack) : undefined,
    stdout: "null",
    stderr: "piped",
  }).output();
  const ms = performance.now() - started;
  if (!status.success) {
    throw new Error(
      `ldapsearch failed: ${new TextDecoder().decode(status.stderr)}`,
    );
  }
  return ms;
}

/** The stack's directory with a simple bind, or SASL GSSAPI with the confidentiality layer. */
export function target(stack: StackInfo, gssapi: boolean): Target {
  return {
    url: gssapi ? stack.ldap.gssapiUrl : stack.ldap.url,
    base: stack.ldap.workgroupBase,
    bind: gssapi
      ? {
        method: "gssapi",
        ccache: stack.ccaches.ldapClient,
        layers: ["confidentiality"],
      }
      : {
        method: "simple",
        dn: stack.ldap.adminDn,
        passwordFile: stack.ldap.adminPasswordFile,
      },
  };
}

/** The median of `values`. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}
