/**
 * The MIT Kerberos KDC of the stack: krb5.conf/kdc.conf inside the stack
 * directory, a fresh realm database, the four principals with their keytabs,
 * and `krb5kdc` in the foreground on 127.0.0.1.
 *
 * @module
 */

import { StackError } from "./errors.ts";
import { baseEnv, type Layout, REALM } from "./layout.ts";
import type { StackContext } from "./context.ts";
import { runCommand, startDaemon, waitForPort } from "./process.ts";
import type { StackPrincipals, StackProcess } from "./types.ts";

/** Principals of the stack, keyed like {@linkcode StackPrincipals}. */
export const PRINCIPALS: StackPrincipals = {
  ldapClient: `service/wgsync-ldap@${REALM}`,
  remctlClient: `service/wgsync-remctl@${REALM}`,
  ldapService: `ldap/localhost@${REALM}`,
  hostService: `host/localhost@${REALM}`,
};

/** The realm as created: keytab paths per principal. */
export interface Realm {
  principals: StackPrincipals;
  keytabs: StackPrincipals;
}

/** Keytab paths of the stack's principals (they exist once {@linkcode createRealm} ran). */
export function keytabsOf(layout: Layout): StackPrincipals {
  return {
    ldapClient: `${layout.keytabs}/wgsync-ldap.keytab`,
    remctlClient: `${layout.keytabs}/wgsync-remctl.keytab`,
    ldapService: `${layout.keytabs}/ldap-localhost.keytab`,
    hostService: `${layout.keytabs}/host-localhost.keytab`,
  };
}

/** Writes krb5.conf and kdc.conf for a KDC on 127.0.0.1:`port`. */
export async function writeKrb5Config(
  layout: Layout,
  port: number,
): Promise<void> {
  const krb5Conf = `[libdefaults]
  default_realm = ${REALM}
  rdns = false
  dns_canonicalize_hostname = false
  dns_lookup_kdc = false
  dns_lookup_realm = false
  udp_preference_limit = 1
  default_ccache_name = FILE:${layout.ccaches}/default
  default_keytab_name = FILE:${layout.keytabs}/default.keytab
  default_client_keytab_name = FILE:${layout.keytabs}/default-client.keytab

[realms]
  ${REALM} = {
    kdc = 127.0.0.1:${port}
  }

[domain_realm]
  localhost = ${REALM}
  127.0.0.1 = ${REALM}
`;
  const kdcConf = `[kdcdefaults]
  kdc_listen = 127.0.0.1:${port}
  kdc_tcp_listen = 127.0.0.1:${port}

[realms]
  ${REALM} = {
    database_name = ${layout.krb5}/principal
    key_stash_file = ${layout.krb5}/stash
    acl_file = ${layout.krb5}/kadm5.acl
    max_life = 10h
    max_renewable_life = 1d
  }

[logging]
  kdc = FILE:${layout.logs}/kdc-events.log
`;
  await Deno.writeTextFile(layout.krb5Config, krb5Conf);
  await Deno.writeTextFile(layout.kdcProfile, kdcConf);
  await Deno.writeTextFile(`${layout.krb5}/kadm5.acl`, "");
}

/** Creates the realm database, the principals and one keytab (mode 0600) per principal. */
export async function createRealm(context: StackContext): Promise<Realm> {
  const { layout, programs } = context;
  const env = baseEnv(layout);
  const masterPassword = crypto.randomUUID();
  await runCommand(
    [programs.kdb5_util, "create", "-s", "-r", REALM, "-P", masterPassword],
    { env },
  );
  const keytabs = keytabsOf(layout);
  const keys = Object.keys(PRINCIPALS) as (keyof StackPrincipals)[];
  const script = [
    ...keys.map((key) => `addprinc -randkey ${PRINCIPALS[key]}`),
    ...keys.map((key) => `ktadd -k ${keytabs[key]} ${PRINCIPALS[key]}`),
    "",
  ].join("\n");
  await runCommand([programs["kadmin.local"], "-r", REALM], {
    env,
    stdin: script,
  });
  for (const key of keys) {
    try {
      await Deno.chmod(keytabs[key], 0o600);
    } catch (error) {
      throw new StackError(
        `Cannot create the keytab of ${PRINCIPALS[key]}: path is "${
          keytabs[key]
        }"`,
        { cause: error },
      );
    }
  }
  return { principals: { ...PRINCIPALS }, keytabs };
}

/** Starts krb5kdc in the foreground (detached) and waits until it accepts TCP connections. */
export async function startKdc(
  context: StackContext,
  port: number,
): Promise<StackProcess> {
  const { layout, programs, track } = context;
  const logFile = `${layout.logs}/kdc.log`;
  const process = await startDaemon(
    "kdc",
    [programs.krb5kdc, "-n", "-r", REALM, "-P", `${layout.run}/kdc.pid`],
    { env: baseEnv(layout), logFile, track },
  );
  await waitForPort(port, process, { logFile });
  return process;
}
