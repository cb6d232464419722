/**
 * The `[ldap]` section: wgsync-ldap, the LDAP Consumer.
 *
 * @module
 */
import { z } from "zod";
import {
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_MAX_PDU_SIZE,
  DEFAULT_OPERATION_TIMEOUT,
} from "../../ldap/defaults.ts";
import {
  absolutePath,
  attributeName,
  distinguishedName,
  ldapFilter,
  ldapUrl,
  metricsListen,
  seconds,
} from "./values.ts";

/** How wgsync-ldap binds to the directory. */
export const ldapBindSchema = z.discriminatedUnion("method", [
  z.strictObject({ method: z.literal("anonymous") }),
  z.strictObject({
    method: z.literal("simple"),
    dn: distinguishedName,
    password_file: absolutePath,
    /** Send the password over an unencrypted connection (no ldaps://, no StartTLS). */
    allow_cleartext_password: z.boolean().default(false),
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
  connect_timeout_seconds: seconds.default(DEFAULT_CONNECT_TIMEOUT / 1000),
  operation_timeout_seconds: seconds.default(DEFAULT_OPERATION_TIMEOUT / 1000),
  max_pdu_bytes: z.number().int().min(1024).default(DEFAULT_MAX_PDU_SIZE),
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
  /**
   * The control socket (`snapshot WORKGROUP`, see lib/control/): a Unix
   * socket made mode 0660 in a setgid directory of the control group; off
   * when unset.
   */
  control_socket: absolutePath.optional(),
  mass_delete_threshold: z.number().min(0).max(1).default(0.1),
  /** How often STATUS= (workgroups, outbox depth, last change) is refreshed. */
  status_interval_seconds: seconds.default(10),
  /** Loopback `host:port` for `/metrics` and `/healthz`; off when unset. */
  metrics_listen: metricsListen,
}).superRefine((ldap, context) => {
  // The LDAP client refuses this at start (lib/ldap/client.ts): say it here.
  if (ldap.start_tls && ldap.url.startsWith("ldaps://")) {
    context.addIssue({
      code: "custom",
      path: ["start_tls"],
      message:
        `expected false with an ldaps:// URL (the connection already uses TLS), found true: url is "${ldap.url}"`,
    });
  }
  const bind = ldap.bind;
  if (
    bind.method === "simple" && !bind.allow_cleartext_password &&
    !ldap.start_tls && !ldap.url.toLowerCase().startsWith("ldaps://")
  ) {
    context.addIssue({
      code: "custom",
      path: ["bind", "allow_cleartext_password"],
      message:
        `is false, and a simple bind to ${ldap.url} would send the password in clear: use an ldaps:// url or start_tls = true, or set allow_cleartext_password = true in [ldap.bind]`,
    });
  }
});
