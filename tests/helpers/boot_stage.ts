/**
 * What the boot test puts into the sandbox's root before boot: the local
 * stack's configuration rewritten to the paths of a real install
 * (/etc/wgsync, /run/wgsync-*, /var/lib/wgsync), its AWS credentials (root
 * 0600), the encrypted keytabs, the CA and /etc/krb5.conf. Not the stack's
 * channel key: wgsync-channel-key.service makes one per boot in /run.
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
  if (ldap.control_socket !== undefined) {
    ldap.control_socket = "/run/wgsync-ctl/control.sock" as never;
  }
  if (config.web?.ldap_control_socket !== undefined) {
    config.web.ldap_control_socket = "/run/wgsync-ctl/control.sock";
  }
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
  // The local stack's AWS credentials are a file (production: an instance
  // role): the services' users get a 0400 copy (tmpfiles.d `C`) bound over
  // the same path.
  const tmpfiles: string[] = [];
  for (const unit of ["wgsync-event", "wgsync-remctl", "wgsync-web"]) {
    const copy = `/run/wgsync-secrets/${unit}.aws-credentials`;
    tmpfiles.push(
      `C ${copy} - - - - /etc/wgsync/aws-credentials`,
      `z ${copy} 0400 ${unit} ${unit} -`,
    );
    const dropIn = `${dir}/etc/systemd/system/${unit}.service.d`;
    await Deno.mkdir(dropIn, { recursive: true });
    await Deno.writeTextFile(
      `${dropIn}/aws-credentials.conf`,
      `[Service]\nBindReadOnlyPaths=${copy}:/etc/wgsync/aws-credentials\n`,
    );
  }
  await Deno.mkdir(`${dir}/etc/tmpfiles.d`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/etc/tmpfiles.d/wgsync-aws-credentials.conf`,
    tmpfiles.join("\n") + "\n",
  );
  // The configuration names secrets by path only: every service reads it.
  await Deno.chmod(`${etc}/wgsync.toml`, 0o644);
  await Deno.chmod(`${etc}/ca.pem`, 0o644);
}
