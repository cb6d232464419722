/**
 * Helpers of the keytab-obtain tests: a case (config, encrypted keytab, output
 * under /run/wgsync-test) made from the local stack, the role run with its
 * permissions, refusals checked.
 *
 * @module
 */

import assert from "node:assert/strict";
import { stringify } from "smol-toml";
import { KMSClient } from "@aws-sdk/client-kms";
import { roleArgv, roleModule } from "../../tasks/launch.ts";
import { type StackInfo } from "./stack.ts";

const decoder = new TextDecoder();

/** The repository root. */
export const ROOT = new URL("../../", import.meta.url).pathname;

/** Outputs must be under /run (schema); the test task may write here. */
export const RUN_BASE = "/run/wgsync-test";

/** One test case: its directory, config file, output and encrypted keytab. */
export interface Case {
  dir: string;
  config: string;
  output: string;
  encrypted: string;
}

/** Options of {@linkcode makeCase}; the defaults are the stack's ldap keytab. */
export interface CaseOptions {
  instance?: "ldap" | "remctl";
  encrypted?: string;
  principal?: string;
  endpoint?: string;
  section?: Record<string, unknown>;
}

/** A KMS client of the stack's moto. */
export function kmsOf(stack: StackInfo): KMSClient {
  return new KMSClient({
    endpoint: stack.aws.endpoint,
    region: stack.aws.region,
    credentials: {
      accessKeyId: stack.aws.accessKeyId,
      secretAccessKey: stack.aws.secretAccessKey,
    },
  });
}

/** Writes a case's wgsync.toml in a new temporary directory. */
export async function makeCase(
  stack: StackInfo,
  options: CaseOptions = {},
): Promise<Case> {
  const instance = options.instance ?? "ldap";
  const dir = await Deno.makeTempDir({ prefix: "wgsync-keytab-" });
  await Deno.mkdir(RUN_BASE, { recursive: true, mode: 0o700 });
  const output = `${RUN_BASE}/${
    dir.split("/").pop()
  }/wgsync-${instance}.keytab`;
  const encrypted = options.encrypted ??
    `${stack.dir}/keytabs/wgsync-${instance}.keytab.enc`;
  const config = `${dir}/wgsync.toml`;
  await Deno.writeTextFile(
    config,
    stringify({
      aws: {
        region: stack.aws.region,
        endpoint: options.endpoint ?? stack.aws.endpoint,
        credentials_file: `${stack.dir}/secrets/aws-credentials`,
      },
      keytab_obtain: {
        [instance]: {
          encrypted_keytab: encrypted,
          output,
          principal: options.principal ??
            (instance === "ldap"
              ? stack.principals.ldapClient
              : stack.principals.remctlClient),
          timeout_seconds: 5,
          ...options.section,
        },
      },
    }),
  );
  return { dir, config, output, encrypted };
}

/** Removes a case's directories. */
export async function removeCase(testCase: Case): Promise<void> {
  await Deno.remove(testCase.dir, { recursive: true });
  await Deno.remove(testCase.output.replace(/\/[^/]+$/, ""), {
    recursive: true,
  }).catch(() => {});
}

/**
 * The role (or `script`, e.g. the kill helper, in its place) with exactly the
 * role's permissions plus the test's and the stack's directories.
 */
export function roleCommand(
  stack: StackInfo,
  testCase: Case,
  args: string[],
  script?: string,
): Deno.Command {
  const [command, ...argv] = roleArgv("keytab_obtain", {
    extraRead: [testCase.dir, stack.dir],
    args,
  });
  if (script !== undefined) {
    argv[argv.indexOf(roleModule("keytab_obtain"))] = script;
  }
  return new Deno.Command(command, {
    args: argv,
    cwd: ROOT,
    env: { NO_COLOR: "1", NOTIFY_SOCKET: "" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Runs the role on a case for `instance`; its exit code and stderr. */
export async function obtain(
  stack: StackInfo,
  testCase: Case,
  instance = "ldap",
): Promise<{ code: number; stderr: string }> {
  const output = await roleCommand(stack, testCase, [
    "--config",
    testCase.config,
    "--instance",
    instance,
  ]).output();
  return { code: output.code, stderr: decoder.decode(output.stderr) };
}

/** The files in the output's directory (none: no keytab, no temporary file). */
export async function filesNextToOutput(testCase: Case): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (
      const entry of Deno.readDir(testCase.output.replace(/\/[^/]+$/, ""))
    ) names.push(entry.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names.sort();
}

/** Runs a failing case: exit 1, the reason and the file named, nothing written. */
export async function assertRefused(
  stack: StackInfo,
  testCase: Case,
  reason: RegExp,
  instance = "ldap",
): Promise<string> {
  const { code, stderr } = await obtain(stack, testCase, instance);
  assert.equal(code, 1, stderr);
  assert.match(stderr, reason);
  assert.match(
    stderr,
    new RegExp(`Cannot obtain the ${instance} keytab as .*: path is "`),
  );
  assert.deepEqual(await filesNextToOutput(testCase), []);
  return stderr;
}

/** Points the case's config at `testCase.encrypted` again. */
export async function rewriteEncrypted(testCase: Case): Promise<void> {
  const text = await Deno.readTextFile(testCase.config);
  await Deno.writeTextFile(
    testCase.config,
    text.replace(
      /encrypted_keytab = "[^"]*"/,
      `encrypted_keytab = "${testCase.encrypted}"`,
    ),
  );
}
