/**
 * Where every file of a stack lives inside its directory, and the environment
 * its processes get (Kerberos settings pointing into the directory only).
 *
 * @module
 */

/** The Kerberos realm of every local stack. */
export const REALM = "WGSYNC.TEST";

/** Paths of one stack, all inside `dir`. */
export interface Layout {
  dir: string;
  stackJson: string;
  processesJson: string;
  configToml: string;
  logs: string;
  run: string;
  krb5: string;
  krb5Config: string;
  kdcProfile: string;
  rcache: string;
  keytabs: string;
  ccaches: string;
  tls: string;
  slapd: string;
  remctl: string;
  callsFile: string;
}

/** Computes the layout of a stack directory (absolute `dir`). */
export function layoutOf(dir: string): Layout {
  return {
    dir,
    stackJson: `${dir}/stack.json`,
    processesJson: `${dir}/processes.json`,
    configToml: `${dir}/wgsync.toml`,
    logs: `${dir}/logs`,
    run: `${dir}/run`,
    krb5: `${dir}/krb5`,
    krb5Config: `${dir}/krb5/krb5.conf`,
    kdcProfile: `${dir}/krb5/kdc.conf`,
    rcache: `${dir}/krb5/rcache`,
    keytabs: `${dir}/keytabs`,
    ccaches: `${dir}/ccaches`,
    tls: `${dir}/tls`,
    slapd: `${dir}/slapd`,
    remctl: `${dir}/remctl`,
    callsFile: `${dir}/remctl-calls.jsonl`,
  };
}

/** Creates the stack's directories (secrets-holding ones mode 0700). */
export async function createLayout(layout: Layout): Promise<void> {
  await Deno.mkdir(layout.dir, { recursive: true });
  for (const dir of [layout.logs, layout.run, layout.tls, layout.remctl]) {
    await Deno.mkdir(dir, { recursive: true });
  }
  for (
    const dir of [layout.krb5, layout.keytabs, layout.ccaches, layout.slapd]
  ) {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  }
  await Deno.mkdir(layout.rcache, { recursive: true, mode: 0o700 });
}

/** Paths (relative to the stack directory) that `up` creates; removed before a new `up`. */
const STACK_ENTRIES = [
  "stack.json",
  "wgsync.toml",
  "remctl-calls.jsonl",
  "logs",
  "run",
  "krb5",
  "keytabs",
  "ccaches",
  "tls",
  "slapd",
  "remctl",
  "secrets",
  "data",
];

/**
 * Removes what a previous (stopped) stack left in the directory, so `up`
 * can run again in it. Only acts on a stack directory (one with
 * processes.json) and only on the entries a stack creates.
 */
export async function resetLayout(layout: Layout): Promise<void> {
  try {
    await Deno.stat(layout.processesJson);
  } catch {
    return;
  }
  for (const entry of STACK_ENTRIES) {
    await Deno.remove(`${layout.dir}/${entry}`, { recursive: true }).catch(
      (error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      },
    );
  }
}

/**
 * The environment of every stack process: the caller's, without any Kerberos
 * or AWS setting it had, plus Kerberos settings pointing into the stack.
 */
export function baseEnv(layout: Layout): Record<string, string> {
  const env = Deno.env.toObject();
  for (const name of Object.keys(env)) {
    if (name.startsWith("KRB5") || name.startsWith("AWS_")) delete env[name];
  }
  env.KRB5_CONFIG = layout.krb5Config;
  env.KRB5_KDC_PROFILE = layout.kdcProfile;
  env.KRB5RCACHEDIR = layout.rcache;
  env.KRB5CCNAME = `FILE:${layout.ccaches}/default`;
  return env;
}
