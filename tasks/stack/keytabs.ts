/**
 * The stack's encrypted keytabs, made with keytab-obtain's provisioning side
 * (KMS GenerateDataKey on moto's key): `DIR/keytabs/wgsync-ldap.keytab.enc`
 * and `DIR/keytabs/wgsync-remctl.keytab.enc`, the files `wgsync.toml`'s
 * `[keytab_obtain.*]` sections name.
 *
 * @module
 */
import { KMSClient } from "@aws-sdk/client-kms";
import { encryptKeytab } from "../../lib/wgsync_keytab_obtain/mod.ts";
import { AWS_SETTINGS } from "./aws.ts";
import type { StackInfo } from "./types.ts";

/** The encrypted keytab of `instance` in the stack directory. */
export function encryptedKeytabPath(dir: string, instance: string): string {
  return `${dir}/keytabs/wgsync-${instance}.keytab.enc`;
}

/** Seals the client keytabs of wgsync-ldap and wgsync-remctl for keytab-obtain. */
export async function writeEncryptedKeytabs(info: StackInfo): Promise<void> {
  const kms = new KMSClient({
    endpoint: info.aws.endpoint,
    region: AWS_SETTINGS.region,
    credentials: {
      accessKeyId: AWS_SETTINGS.accessKeyId,
      secretAccessKey: AWS_SETTINGS.secretAccessKey,
    },
  });
  try {
    await Deno.mkdir(`${info.dir}/keytabs`, { recursive: true, mode: 0o700 });
    const clients = [
      ["ldap", info.keytabs.ldapClient, info.principals.ldapClient],
      ["remctl", info.keytabs.remctlClient, info.principals.remctlClient],
    ] as const;
    for (const [instance, keytab, principal] of clients) {
      const sealed = await encryptKeytab(await Deno.readFile(keytab), {
        kms,
        keyId: info.aws.kmsKeyId,
        instance,
        principal,
      });
      await Deno.writeFile(encryptedKeytabPath(info.dir, instance), sealed, {
        mode: 0o600,
      });
    }
  } finally {
    kms.destroy();
  }
}
