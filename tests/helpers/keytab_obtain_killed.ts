/**
 * Runs keytab-obtain's write up to the moment between the written, fsynced
 * temporary file and its rename, prints `temporary PATH` and waits there, so
 * a test can kill it (SIGKILL) at the worst moment of the write.
 *
 *   deno run <keytab_obtain's flags> keytab_obtain_killed.ts CONFIG INSTANCE
 *
 * @module
 */
import { createKmsClient, loadAwsSettings } from "../../lib/aws/mod.ts";
import { loadConfig } from "../../lib/config/mod.ts";
import { obtainKeytab } from "../../lib/wgsync_keytab_obtain/mod.ts";

const [configPath, instance] = Deno.args;
const config = loadConfig(configPath, { sections: ["aws", "keytab_obtain"] });
const kms = createKmsClient(
  await loadAwsSettings(config.aws!, { maxAttempts: 1 }),
);
await obtainKeytab(config.keytab_obtain![instance as "ldap" | "remctl"]!, {
  instance,
  kms,
  beforeRename: async (temporary) => {
    console.log(`temporary ${temporary}`);
    // Keep the event loop alive until the test kills this process.
    await new Promise(() => setInterval(() => {}, 60_000));
  },
});
