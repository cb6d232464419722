/**
 * Helpers of the local stack's tests: running a command, the stack's
 * Kerberos environment, a GSSAPI bind and sync search, the stack CLI.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { StackInfo } from "../../tasks/stack/types.ts";

/** A finished command's exit code and output. */
export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `argv` with `env` and returns its exit code and output. */
export async function run(
  argv: string[],
  env: Record<string, string> = {},
): Promise<Output> {
  const output = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env,
    stdin: "null",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/** ldapwhoami/ldapsearch environment for a GSSAPI bind with the consumer's k5start cache. */
export function gssapiEnv(stack: StackInfo): Record<string, string> {
  return {
    KRB5_CONFIG: stack.krb5Config,
    KRB5CCNAME: `FILE:${stack.ccaches.ldapClient}`,
    LDAPSASL_NOCANON: "on",
  };
}

/** ldapwhoami over GSSAPI as the consumer, with at most `maxSsf` when given. */
export async function whoamiGssapi(
  stack: StackInfo,
  maxSsf?: number,
): Promise<Output> {
  const argv = ["ldapwhoami", "-Y", "GSSAPI", "-N", "-H", stack.ldap.gssapiUrl];
  if (maxSsf !== undefined) argv.push("-O", `maxssf=${maxSsf}`);
  return await run(argv, gssapiEnv(stack));
}

/** The workgroup names (cn) and final cookie of a refreshOnly sync search. */
export async function syncWorkgroups(
  stack: StackInfo,
): Promise<{ names: string[]; cookie: string | undefined }> {
  const result = await run([
    "ldapsearch",
    "-Q",
    "-o",
    "ldif-wrap=no",
    "-Y",
    "GSSAPI",
    "-N",
    "-H",
    stack.ldap.gssapiUrl,
    "-b",
    stack.ldap.workgroupBase,
    "-E",
    "!sync=ro",
    "(objectClass=groupOfNames)",
    "cn",
  ], gssapiEnv(stack));
  assert.equal(result.code, 0, result.stderr);
  const names = [...result.stdout.matchAll(/^cn: (.*)$/gm)].map((m) => m[1]);
  const cookie = result.stdout.match(/^# cookie: (rid=.*csn=.*)$/m)?.[1];
  return { names, cookie };
}

/** Runs `deno task stack ACTION DIR` (the CLI, in its own process). */
export function stackTask(
  action: string,
  dir: string,
  env: Record<string, string> = {},
): Promise<Output> {
  const root = new URL("../../", import.meta.url).pathname;
  return run([
    Deno.execPath(),
    "run",
    "--frozen",
    "--cached-only",
    "--allow-all",
    "--config",
    `${root}deno.json`,
    `${root}tasks/stack.ts`,
    action,
    dir,
  ], env);
}
