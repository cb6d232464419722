/**
 * slapd for the stack: cn=config built offline with `slapadd -n0` (back_mdb +
 * syncprov with a session log, SASL/GSSAPI mapping of the consumer principal,
 * a rootdn with a password, StartTLS), data loaded offline with `slapadd -q`,
 * then slapd in the foreground (`-d stats`: connections, binds and
 * operations go to its log) on 127.0.0.1.
 *
 * @module
 */

import type { StackContext } from "./context.ts";
import { ADMIN_DN, CONSUMER_DN, type DataPlan, SUFFIX } from "./data.ts";
import { StackError } from "./errors.ts";
import { baseEnv, REALM } from "./layout.ts";
import {
  runCommand,
  startDaemon,
  stopProcesses,
  waitForPort,
} from "./process.ts";
import type { TlsFiles } from "./tls.ts";
import type { StackProcess } from "./types.ts";

/** What slapd needs to start (and restart) with the same config and data. */
export interface SlapdSetup {
  port: number;
  configDir: string;
  dataDir: string;
  logFile: string;
  adminPasswordFile: string;
  argv: string[];
  env: Record<string, string>;
  /** Path of slapadd, for loading data while slapd is stopped. */
  slapadd: string;
}

/** Options of {@linkcode configureSlapd}. */
export interface SlapdOptions {
  port: number;
  tls: TlsFiles;
  /** Keytab of `ldap/localhost` (slapd's acceptor key). */
  serviceKeytab: string;
}

/** Writes slapd's cn=config (offline, slapadd -n0) and the admin password file (0600). */
export async function configureSlapd(
  context: StackContext,
  options: SlapdOptions,
): Promise<SlapdSetup> {
  const { layout, programs } = context;
  const configDir = `${layout.slapd}/slapd.d`;
  const dataDir = `${layout.slapd}/data`;
  const adminPasswordFile = `${layout.slapd}/admin-password`;
  await Deno.mkdir(configDir, { recursive: true, mode: 0o700 });
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const password = crypto.randomUUID();
  await Deno.writeTextFile(adminPasswordFile, password, { mode: 0o600 });
  await Deno.chmod(adminPasswordFile, 0o600);
  const env = baseEnv(layout);
  env.KRB5_KTNAME = `FILE:${options.serviceKeytab}`;
  const configLdif = `${layout.slapd}/config.ldif`;
  await Deno.writeTextFile(
    configLdif,
    configText({
      ...options,
      run: layout.run,
      dataDir,
      rootPassword: await ssha(password),
    }),
  );
  await runCommand(
    [programs.slapadd, "-n0", "-F", configDir, "-l", configLdif],
    { env },
  );
  return {
    port: options.port,
    configDir,
    dataDir,
    logFile: `${layout.logs}/slapd.log`,
    adminPasswordFile,
    argv: [
      programs.slapd,
      "-d",
      "stats",
      "-h",
      `ldap://127.0.0.1:${options.port}/`,
      "-F",
      configDir,
    ],
    env,
    slapadd: programs.slapadd,
  };
}

/** Loads the planned LDIF into the (stopped) database with `slapadd -q -w`, streaming it on stdin. */
export async function loadData(
  setup: SlapdSetup,
  plan: DataPlan,
): Promise<void> {
  const argv = [
    setup.slapadd,
    "-q",
    "-w",
    "-n1",
    "-F",
    setup.configDir,
    "-l",
    "/dev/stdin",
  ];
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: setup.env,
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  try {
    for (const chunk of plan.chunks()) {
      await writer.write(encoder.encode(chunk));
    }
    await writer.close();
  } catch {
    // slapadd stopped reading; its exit status and stderr below tell why.
  }
  const result = await output;
  if (!result.success) {
    throw new StackError(
      `Cannot load the sample data with slapadd (exit code ${result.code}):\n${
        new TextDecoder().decode(result.stderr).trim()
      }`,
    );
  }
}

/** Starts slapd detached and waits until it accepts connections. */
export async function startSlapd(
  setup: Pick<SlapdSetup, "port" | "argv" | "env" | "logFile">,
  track: (process: StackProcess) => void,
): Promise<StackProcess> {
  const process = await startDaemon("slapd", setup.argv, {
    env: setup.env,
    logFile: setup.logFile,
    track,
  });
  await waitForPort(setup.port, process, { logFile: setup.logFile });
  return process;
}

/** Stops slapd and waits until it has exited (its port is free again). */
export async function stopSlapd(process: StackProcess): Promise<void> {
  await stopProcesses([process], { timeoutMs: 10000 });
}

interface ConfigInput extends SlapdOptions {
  run: string;
  dataDir: string;
  rootPassword: string;
}

function configText(input: ConfigInput): string {
  const realm = REALM.toLowerCase().replaceAll(".", "\\.");
  return `dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: ${input.run}/slapd.pid
olcArgsFile: ${input.run}/slapd.args
olcSaslHost: localhost
olcAuthzRegexp: {0}"^uid=service/wgsync-ldap(,cn=${realm})?,cn=gssapi,cn=auth$" "${CONSUMER_DN}"
olcTLSCACertificateFile: ${input.tls.caFile}
olcTLSCertificateFile: ${input.tls.certFile}
olcTLSCertificateKeyFile: ${input.tls.keyFile}
olcTLSVerifyClient: never

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: {0}back_mdb
olcModuleLoad: {1}syncprov

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: ${SUFFIX}
olcRootDN: ${ADMIN_DN}
olcRootPW: ${input.rootPassword}
olcDbDirectory: ${input.dataDir}
olcDbMaxSize: 17179869184
olcDbNoSync: TRUE
olcDbIndex: objectClass eq
olcDbIndex: entryUUID eq
olcDbIndex: entryCSN eq
olcDbIndex: cn eq
olcDbIndex: uid eq
olcLimits: {0}users size=unlimited time=unlimited
olcAccess: {0}to attrs=userPassword by anonymous auth by * none
olcAccess: {1}to * by dn.exact="${CONSUMER_DN}" read by users read by * none

dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {0}syncprov
olcSpCheckpoint: 100 10
olcSpSessionLog: 10000
`;
}

/** `{SSHA}` hash of a password (salted SHA-1, the form slapd accepts for olcRootPW). */
async function ssha(password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(8));
  const input = new Uint8Array([
    ...new TextEncoder().encode(password),
    ...salt,
  ]);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", input));
  return `{SSHA}${btoa(String.fromCharCode(...digest, ...salt))}`;
}
