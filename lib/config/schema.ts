/**
 * The schema of `wgsync.toml`: one section per role, validated before any
 * role starts (each section in its own file under `sections/`). Keys are
 * snake_case as written in the file; secrets are only ever referenced by path
 * (keys ending in `_file`), never inline.
 *
 * @module
 */
import { z } from "zod";
import { seconds } from "./sections/values.ts";
import { logSchema } from "./sections/log.ts";
import { ldapBindSchema, ldapSchema } from "./sections/ldap.ts";
import { channelSchema } from "./sections/channel.ts";
import { awsSchema } from "./sections/aws.ts";
import { eventSchema } from "./sections/event.ts";
import { remctlSchema } from "./sections/remctl.ts";
import { keytabObtainSchema } from "./sections/keytab_obtain.ts";
import { ebsSchema } from "./sections/ebs.ts";
import { webSchema } from "./sections/web.ts";

export {
  awsSchema,
  channelSchema,
  ebsSchema,
  eventSchema,
  keytabObtainSchema,
  ldapBindSchema,
  ldapSchema,
  logSchema,
  remctlSchema,
  webSchema,
};

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
