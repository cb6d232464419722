/**
 * The schema of `wgsync.toml`: one section per role, validated before any
 * role starts. Keys are snake_case as written in the file; secrets are only
 * ever referenced by path (keys ending in `_file`), never inline.
 *
 * @module
 */
import { z } from "zod";

const absolutePath = z.string().regex(/^\//, {
  message: "expected an absolute path",
});
const hostPort = z.string().regex(/^[A-Za-z0-9.\-]+:[0-9]{1,5}$/, {
  message: 'expected "host:port"',
});
const ldapUrl = z.string().regex(/^ldaps?:\/\/[^/?#]+\/?$/, {
  message: 'expected an LDAP URL such as "ldap://ldap.example.edu"',
});
const distinguishedName = z.string().regex(/^[^=,]+=[^,]*(,[^=,]+=[^,]*)*$/, {
  message: 'expected a DN such as "ou=workgroups,dc=example,dc=edu"',
});
const ldapFilter = z.string().regex(/^\(.*\)$/, {
  message: 'expected a parenthesised LDAP filter such as "(objectClass=*)"',
});
const attributeName = z.string().regex(/^[A-Za-z][A-Za-z0-9-]*$/, {
  message: "expected an LDAP attribute name",
});
const seconds = z.number().positive();

/** Logging settings shared by every role. */
export const logSchema = z.strictObject({
  level: z.enum(["trace", "debug", "info", "warning", "error", "fatal"])
    .default("info"),
});

/** How wgsync-ldap binds to the directory. */
export const ldapBindSchema = z.discriminatedUnion("method", [
  z.strictObject({ method: z.literal("anonymous") }),
  z.strictObject({
    method: z.literal("simple"),
    dn: distinguishedName,
    password_file: absolutePath,
  }),
  z.strictObject({
    method: z.literal("gssapi"),
    /** Ticket cache kept by k5start (wgsync-ldap-keytab.service). */
    ccache: absolutePath,
    /** Host part of the service principal: `ldap/<sasl_host>`. */
    sasl_host: z.string().min(1),
    security_layers: z.array(z.enum(["confidentiality", "integrity", "none"]))
      .min(1).default(["confidentiality", "integrity", "none"]),
  }),
]);

/** wgsync-ldap, the LDAP Consumer. */
export const ldapSchema = z.strictObject({
  url: ldapUrl,
  start_tls: z.boolean().default(false),
  ca_file: absolutePath.optional(),
  connect_timeout_seconds: seconds.default(10),
  operation_timeout_seconds: seconds.default(60),
  max_pdu_bytes: z.number().int().min(1024).default(16 * 1024 * 1024),
  bind: ldapBindSchema,
  workgroups: z.strictObject({
    base: distinguishedName,
    filter: ldapFilter.default("(objectClass=groupOfNames)"),
    name_attribute: attributeName.default("cn"),
    member_attribute: attributeName.default("member"),
  }),
  people: z.strictObject({
    base: distinguishedName,
    filter: ldapFilter.default("(objectClass=person)"),
    uid_attribute: attributeName.default("uid"),
    id_attribute: attributeName.optional(),
  }).optional(),
  data_dir: absolutePath,
  mass_delete_threshold: z.number().min(0).max(1).default(0.1),
  /** How often STATUS= (workgroups, outbox depth, last change) is refreshed. */
  status_interval_seconds: seconds.default(10),
});

/** The authenticated stream from wgsync-ldap to wgsync-event. */
export const channelSchema = z.strictObject({
  socket: absolutePath.optional(),
  tcp: hostPort.optional(),
  auth_key_file: absolutePath,
  connections: z.number().int().min(1).max(64).default(4),
  window: z.number().int().min(1).max(65536).default(256),
  max_frame_bytes: z.number().int().min(1024).default(1024 * 1024),
}).superRefine((channel, context) => {
  const given = [channel.socket, channel.tcp].filter((v) => v !== undefined);
  if (given.length !== 1) {
    context.addIssue({
      code: "custom",
      message: `expected exactly one of "socket" or "tcp", found ${
        given.length === 0 ? "neither" : "both"
      }`,
    });
  }
});

/** AWS endpoint settings shared by the roles that call AWS. */
export const awsSchema = z.strictObject({
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-[0-9]$/, {
    message: 'expected an AWS region such as "us-west-2"',
  }),
  /** Only for tests and the local stack (moto); production uses AWS's own. */
  endpoint: z.url().optional(),
  /** Only for the local stack: a file holding `access_key_id:secret`. */
  credentials_file: absolutePath.optional(),
});

/** wgsync-event, the Event Generator. */
export const eventSchema = z.strictObject({
  stems_table: z.string().min(3),
  topic_arn: z.string().regex(/^arn:aws[a-z-]*:sns:[^:]+:[0-9]{12}:.+\.fifo$/, {
    message: "expected the ARN of an SNS FIFO topic",
  }),
  stem_cache_seconds: seconds.default(300),
});

/** wgsync-remctl, the Remctl Generator. */
export const remctlSchema = z.strictObject({
  queue_urls: z.array(z.url()).min(1),
  ccache: absolutePath,
  server: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(4373),
  service_principal: z.string().optional(),
  command: z.array(z.string().min(1)).min(1),
  timeout_seconds: seconds.default(60),
});

/** A keytab-obtain oneshot: KMS-decrypt an encrypted keytab into /run. */
export const keytabObtainSchema = z.strictObject({
  encrypted_keytab: absolutePath,
  output: absolutePath.regex(/^\/run\//, {
    message: "expected a path under /run (keytabs never rest in clear)",
  }),
  principal: z.string().min(1),
});

/** wgsync-ebs: the data volume must be mounted. */
export const ebsSchema = z.strictObject({
  mount_point: absolutePath,
  label: z.string().regex(/^[A-Za-z0-9_.\-]{1,16}$/, {
    message: "expected a filesystem label (at most 16 letters, digits, _ . -)",
  }).optional(),
  mount: z.boolean().default(false),
  timeout_seconds: seconds.default(60),
});

/** wgsync-web, the operators' site. */
export const webSchema = z.strictObject({
  listen: hostPort.default("127.0.0.1:8080"),
});

/** The whole file. Every section is optional; each role requires its own. */
export const configSchema = z.strictObject({
  log: logSchema.default({ level: "info" }),
  stop_timeout_seconds: seconds.default(30),
  ldap: ldapSchema.optional(),
  channel: channelSchema.optional(),
  aws: awsSchema.optional(),
  event: eventSchema.optional(),
  remctl: remctlSchema.optional(),
  keytab_obtain: z.strictObject({
    ldap: keytabObtainSchema.optional(),
    remctl: keytabObtainSchema.optional(),
  }).optional(),
  ebs: ebsSchema.optional(),
  web: webSchema.optional(),
});

/** A validated configuration. */
export type Config = z.infer<typeof configSchema>;

/** A top-level section of the configuration. */
export type ConfigSection = Exclude<
  keyof Config,
  "log" | "stop_timeout_seconds"
>;
