/**
 * `DIR/wgsync.toml`: a complete configuration (schema: lib/config/schema.ts)
 * pointing every role at the local stack, with its secret files (channel
 * key, AWS credentials) written mode 0600 inside the stack directory.
 *
 * @module
 */

import { stringify } from "smol-toml";
import type { z } from "zod";
import type { configSchema } from "../../lib/config/schema.ts";
import { encryptedKeytabPath } from "./keytabs.ts";
import { freePorts } from "./process.ts";
import type { StackInfo } from "./types.ts";

/** The TOML-level shape of the config (before defaults are applied). */
type ConfigInput = z.input<typeof configSchema>;

/**
 * The arguments the demo targets pass after `wgsync demo`: every placeholder,
 * `{csn}` and `{seq}` after `{id}` (so the backend's record carries what a
 * downstream orders by), `{members}` last (remctld hands it to the backend on
 * standard input).
 */
export const DEMO_ARGUMENTS = [
  "{type}",
  "{workgroup}",
  "{stem}",
  "{member.uid}",
  "{member.id}",
  "{member.dn}",
  "{previous}",
  "{id}",
  "{csn}",
  "{seq}",
  "{members}",
];

/** Options of {@linkcode writeConfig}. */
export interface ConfigOptions {
  /** Free port for wgsync-web's listener. */
  webPort: number;
}

/** Writes the stack's wgsync.toml (path `info.config`) and the secret files it names. */
export async function writeConfig(
  info: StackInfo,
  options: ConfigOptions,
): Promise<void> {
  const secrets = `${info.dir}/secrets`;
  const dataDir = `${info.dir}/data`;
  await Deno.mkdir(secrets, { recursive: true, mode: 0o700 });
  await Deno.mkdir(`${dataDir}/ldap`, { recursive: true, mode: 0o700 });
  const channelKey = `${secrets}/channel.key`;
  const awsCredentials = `${secrets}/aws-credentials`;
  const key = crypto.getRandomValues(new Uint8Array(32));
  await writeSecret(
    channelKey,
    Array.from(key, (b) => b.toString(16).padStart(2, "0")).join("") + "\n",
  );
  await writeSecret(
    awsCredentials,
    `${info.aws.accessKeyId}:${info.aws.secretAccessKey}\n`,
  );
  // Each role's /metrics and /healthz, scraped by wgsync-web's overview.
  const [ldapMetrics, eventMetrics, remctlMetrics, webMetrics] = freePorts(4)
    .map((port) => `127.0.0.1:${port}`);
  const metrics = {
    ldap: ldapMetrics,
    event: eventMetrics,
    remctl: remctlMetrics,
    web: webMetrics,
  };
  const runDir = `/run/wgsync-stack/${info.dir.split("/").pop()}`;
  const config: ConfigInput = {
    stop_timeout_seconds: 10,
    log: { level: "info" },
    ldap: {
      metrics_listen: metrics.ldap,
      control_socket: `${info.dir}/run/ldap-control.sock`,
      url: info.ldap.url,
      start_tls: true,
      ca_file: info.ldap.caFile,
      bind: {
        method: "gssapi",
        ccache: info.ccaches.ldapClient,
        sasl_host: info.ldap.saslHost,
        security_layers: ["confidentiality", "integrity", "none"],
      },
      workgroups: {
        base: info.ldap.workgroupBase,
        filter: "(objectClass=groupOfNames)",
        name_attribute: "cn",
        member_attribute: "member",
      },
      people: {
        base: info.ldap.peopleBase,
        filter: "(objectClass=inetOrgPerson)",
        uid_attribute: "uid",
        id_attribute: "employeeNumber",
      },
      data_dir: `${dataDir}/ldap`,
    },
    channel: {
      socket: `${info.dir}/run/event.sock`,
      auth_key_file: channelKey,
    },
    aws: {
      region: info.aws.region,
      endpoint: info.aws.endpoint,
      credentials_file: awsCredentials,
    },
    event: {
      metrics_listen: metrics.event,
      stems_table: info.aws.stemsTable,
      topic_arn: info.aws.topicArn,
      claim_check_bucket: info.aws.claimCheckBucket,
    },
    remctl: {
      metrics_listen: metrics.remctl,
      ccache: info.ccaches.remctlClient,
      concurrency: 8,
      timeout_seconds: 30,
      targets: info.aws.queues.map((queue) => ({
        name: queue.target,
        queue_url: queue.url,
        host: info.remctl.host,
        port: info.remctl.port,
        principal: info.remctl.service,
        command: [
          info.remctl.command,
          info.remctl.subcommand,
          ...DEMO_ARGUMENTS,
        ],
      })),
    },
    // The encrypted keytabs are sealed by keytabs.ts after this file is
    // written. The output must be under /run by the schema.
    keytab_obtain: {
      ldap: {
        encrypted_keytab: encryptedKeytabPath(info.dir, "ldap"),
        output: `${runDir}/wgsync-ldap.keytab`,
        principal: info.principals.ldapClient,
      },
      remctl: {
        encrypted_keytab: encryptedKeytabPath(info.dir, "remctl"),
        output: `${runDir}/wgsync-remctl.keytab`,
        principal: info.principals.remctlClient,
      },
    },
    ebs: { mount_point: dataDir, mount: false },
    web: {
      listen: `127.0.0.1:${options.webPort}`,
      metrics_listen: metrics.web,
      roles: Object.entries(metrics).map(([name, listen]) => ({
        name,
        url: `http://${listen}`,
      })),
      scrape_interval_seconds: 2,
      // The local operator, as a reverse proxy on this host would name them.
      admin_header: "X-Remote-User",
      trusted_proxies: ["127.0.0.1"],
      admins: ["local-admin"],
      stems_table: info.aws.stemsTable,
      queue_url: info.aws.webQueueUrl,
      targets: info.aws.queues.map((queue) => ({
        name: queue.target,
        queue_url: queue.url,
      })),
      ldap_control_socket: `${info.dir}/run/ldap-control.sock`,
    },
  };
  const header = [
    `# wgsync configuration for the local stack in ${info.dir}`,
    "# Written by `deno task stack up`; rewritten on every up.",
    "",
  ].join("\n");
  await Deno.writeTextFile(info.config, header + stringify(config) + "\n");
}

async function writeSecret(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text, { mode: 0o600 });
  await Deno.chmod(path, 0o600);
}
