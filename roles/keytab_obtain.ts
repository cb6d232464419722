#!/usr/bin/env -S deno run --cached-only -R=/etc/wgsync,/etc/passwd,/run -W=/run -N -E -S=osRelease,uid,homedir
/**
 * wgsync-keytab-obtain: a oneshot per instance (`--instance ldap` or
 * `--instance remctl`) that has AWS KMS decrypt the data key of the
 * instance's encrypted keytab, decrypts and checks the keytab, and writes it
 * under /run (mode 0400, owned by the service user) for k5start.
 *
 * `wgsync-keytab-obtain encrypt ...` is the provisioning side (run by an
 * operator, e.g. `deno task keytab:encrypt`): it seals a keytab into the
 * encrypted format with a data key from KMS GenerateDataKey.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { KMSClient } from "@aws-sdk/client-kms";
import { createKmsClient, loadAwsSettings } from "../lib/aws/mod.ts";
import { loadConfig } from "../lib/config/mod.ts";
import {
  encryptKeytab,
  obtainKeytab,
  parseEnvelope,
} from "../lib/wgsync_keytab_obtain/mod.ts";
import { defineRole, describeError, runRole } from "../lib/role/mod.ts";

const INSTANCES = ["ldap", "remctl"] as const;

/** The wgsync-keytab-obtain role. */
export const keytabObtainRole = defineRole({
  name: "keytab-obtain",
  summary:
    "Decrypts the encrypted keytab of [keytab_obtain.INSTANCE] with its KMS data key, checks it holds the principal with acceptable encryption types, and writes it atomically to the section's output (mode 0400, owner the section's owner). `wgsync-keytab-obtain encrypt --help` describes the provisioning side.",
  sections: ["aws", "keytab_obtain"],
  flags: {
    instance: {
      type: "string",
      description: `the keytab to obtain: ${INSTANCES.join(" or ")}`,
    },
  },
  check(config, flags) {
    const instance = flags.instance;
    if (!INSTANCES.includes(instance as typeof INSTANCES[number])) {
      return [
        `flag "--instance" expected ${INSTANCES.join(" or ")}, found ${
          JSON.stringify(instance ?? null)
        }`,
      ];
    }
    const settings = config.keytab_obtain?.[instance as "ldap" | "remctl"];
    if (settings === undefined) {
      return [
        `key "keytab_obtain.${instance}" expected a [keytab_obtain.${instance}] section, found none`,
      ];
    }
    try {
      parseEnvelope(Deno.readFileSync(settings.encrypted_keytab));
    } catch (error) {
      return [
        `key "keytab_obtain.${instance}.encrypted_keytab" expected an encrypted keytab, found ${
          describeError(error)
        }: path is "${settings.encrypted_keytab}"`,
      ];
    }
    return [];
  },
  async main({ config, flags, logger, notifier, signal }) {
    const instance = flags.instance as "ldap" | "remctl";
    const settings = config.keytab_obtain[instance]!;
    const kms = createKmsClient(
      await loadAwsSettings(config.aws, { maxAttempts: 1 }),
    );
    try {
      await notifier.status(`decrypting ${settings.encrypted_keytab}`);
      const result = await obtainKeytab(settings, {
        instance,
        kms,
        signal,
        onRetry: (error, delayMs, attempt) => {
          logger.warning(
            "KMS attempt {attempt} failed, retrying in {delayMs} ms: {error}",
            { attempt, delayMs, error: describeError(error) },
          );
          notifier.status(`KMS unreachable, retry ${attempt}`);
        },
      });
      logger.info(
        "Wrote the {instance} keytab {keytab} for {principal}: {enctypes}",
        {
          instance,
          keytab: result.output,
          principal: result.principal,
          enctypes: result.keys.join(", "),
        },
      );
      await notifier.ready(
        `keytab for ${result.principal} in ${result.output}`,
      );
    } finally {
      kms.destroy();
    }
  },
});

const ENCRYPT_USAGE =
  `Usage: wgsync-keytab-obtain encrypt --instance ldap|remctl --key-id KEY [options] IN OUT

Seals the MIT keytab IN into the encrypted keytab OUT: a fresh AES-256 data key
from KMS GenerateDataKey under KEY (id, ARN or alias) with the encryption
context {"wgsync:keytab": INSTANCE}, the keytab encrypted with AES-256-GCM.

Options:
  --instance NAME   ldap or remctl (the encryption context)
  --key-id KEY      the KMS key
  --principal P     refuse IN unless it holds P (with only strong enctypes)
  --config PATH     take region, endpoint and credentials from its [aws]
                    section (default: the AWS SDK's environment and files)
  --help            show this help and exit
`;

async function encryptCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        instance: { type: "string" },
        "key-id": { type: "string" },
        principal: { type: "string" },
        config: { type: "string" },
        help: { type: "boolean" },
      },
    });
  } catch (error) {
    console.error(`wgsync-keytab-obtain encrypt: ${describeError(error)}\n`);
    console.error(ENCRYPT_USAGE);
    return 64;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(ENCRYPT_USAGE);
    return 0;
  }
  const instance = values.instance;
  if (
    !INSTANCES.includes(instance as typeof INSTANCES[number]) ||
    values["key-id"] === undefined || positionals.length !== 2
  ) {
    console.error(
      "wgsync-keytab-obtain encrypt: expected --instance ldap|remctl, --key-id and the files IN OUT\n",
    );
    console.error(ENCRYPT_USAGE);
    return 64;
  }
  const [input, output] = positionals;
  const aws = values.config === undefined
    ? undefined
    : loadConfig(values.config, { sections: ["aws"] }).aws;
  const kms = aws === undefined
    ? new KMSClient({})
    : createKmsClient(await loadAwsSettings(aws));
  try {
    const sealed = await encryptKeytab(await Deno.readFile(input), {
      kms,
      keyId: values["key-id"],
      instance: instance!,
      principal: values.principal,
    });
    await Deno.writeFile(`${output}.tmp`, sealed, { mode: 0o600 });
    await Deno.rename(`${output}.tmp`, output);
    console.log(
      `wgsync-keytab-obtain encrypt: sealed "${input}" into "${output}" for ${instance}`,
    );
    return 0;
  } catch (error) {
    console.error(
      `wgsync-keytab-obtain encrypt: Cannot seal the keytab: path is "${input}": ${
        describeError(error)
      }`,
    );
    return 1;
  } finally {
    kms.destroy();
  }
}

if (import.meta.main) {
  Deno.exit(
    Deno.args[0] === "encrypt"
      ? await encryptCommand(Deno.args.slice(1))
      : await runRole(keytabObtainRole),
  );
}
