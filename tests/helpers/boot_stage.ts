/**
 * What the boot test puts into the sandbox's root before boot: the local
 * stack's configuration rewritten to the paths of a real install
 * (/etc/wgsync, /run/wgsync-*, /var/lib/wgsync), its secrets (root 0600),
 * the encrypted keytabs, the CA and /etc/krb5.conf.
 *
 * @module
 */
import { parse, stringify } from "smol-toml";
import type { StackInfo } from "./stack.ts";

/** The stack's configuration with the paths a real install uses. */
export async function stageWgsync(
  stack: StackInfo,
  dir: string,
): Promise<void> {
  const etc = `${dir}/etc/wgsync`;
  await Deno.mkdir(`${etc}/keytabs`, { recursive: true, mode: 0o755 });
  const config = parse(await Deno.readTextFile(stack.config)) as Record<
    string,
    Record<string, unknown>
  >;
  const copy = async (from: string, to: string) => {
    await Deno.copyFile(from, to);
    await Deno.chmod(to, 0o600);
  };
  await copy(`${stack.dir}/secrets/channel.key`, `${etc}/channel.key`);
  await copy(`${stack.dir}/secrets/aws-credentials`, `${etc}/aws-credentials`);
  await copy(stack.ldap.caFile, `${etc}/ca.pem`);
  for (const instance of ["ldap", "remctl"]) {
    await copy(
      `${stack.dir}/keytabs/wgsync-${instance}.keytab.enc`,
      `${etc}/keytabs/wgsync-${instance}.keytab.enc`,
    );
  }
  await Deno.writeTextFile(
    `${dir}/etc/krb5.conf`,
    await Deno.readTextFile(stack.krb5Config),
  );
  const ldap = config.ldap as Record<string, Record<string, unknown>>;
  ldap.ca_file = "/etc/wgsync/ca.pem" as never;
  ldap.data_dir = "/var/lib/wgsync/ldap" as never;
  ldap.bind.ccache = "/run/wgsync-ldap/krb5cc";
  config.channel.socket = "/run/wgsync/event.sock";
  config.channel.auth_key_file = "/etc/wgsync/channel.key";
  config.aws.credentials_file = "/etc/wgsync/aws-credentials";
  if (config.remctl) config.remctl.ccache = "/run/wgsync-remctl/krb5cc";
  config.keytab_obtain = {
    ldap: {
      encrypted_keytab: "/etc/wgsync/keytabs/wgsync-ldap.keytab.enc",
      output: "/run/wgsync-ldap/keytab",
      principal: stack.principals.ldapClient,
      owner: "wgsync-ldap",
    },
    remctl: {
      encrypted_keytab: "/etc/wgsync/keytabs/wgsync-remctl.keytab.enc",
      output: "/run/wgsync-remctl/keytab",
      principal: stack.principals.remctlClient,
      owner: "wgsync-remctl",
    },
  };
  config.ebs = { mount_point: "/var/lib/wgsync", mount: false };
  await Deno.writeTextFile(`${etc}/wgsync.toml`, stringify(config) + "\n");
  await Deno.chmod(`${etc}/wgsync.toml`, 0o600);
}
