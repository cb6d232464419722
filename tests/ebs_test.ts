/**
 * wgsync-ebs against real loop devices and mounts. Each role run happens in a
 * private mount namespace (`unshare -m`), so nothing it mounts reaches the host.
 */
import assert from "node:assert/strict";
import { roleArgv } from "../tasks/launch.ts";

interface Volume {
  dir: string;
  label: string;
  device: string;
  [Symbol.asyncDispose](): Promise<void>;
}

async function run(command: string, ...args: string[]): Promise<string> {
  const output = await new Deno.Command(command, { args, stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(
      `${command} ${args.join(" ")} exited ${output.code}: ${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
  return text.trim();
}

/** An ext4 image with a unique label on a loop device, plus a config dir. */
async function loopVolume(): Promise<Volume> {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-ebs-" });
  const label = `wgt${crypto.randomUUID().slice(0, 8)}`;
  const image = `${dir}/volume.img`;
  await run("truncate", "-s", "8M", image);
  await run("mkfs.ext4", "-q", "-L", label, image);
  const device = await run("losetup", "-f", "--show", image);
  await Deno.mkdir(`${dir}/mnt`);
  return {
    dir,
    label,
    device,
    async [Symbol.asyncDispose]() {
      await run("losetup", "-d", device);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

function writeConfig(dir: string, ebs: string): string {
  const path = `${dir}/wgsync.toml`;
  Deno.writeTextFileSync(path, `[ebs]\nmount_point = "${dir}/mnt"\n${ebs}\n`);
  return path;
}

/** A shell line running the role with exactly its permissions plus the test dir. */
function roleCommand(dir: string, config: string): string {
  return roleArgv("ebs", { args: ["--config", config], extraRead: [dir] })
    .map((part) => `'${part}'`).join(" ");
}

async function inNamespace(
  script: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command("unshare", {
    args: ["-m", "--propagation", "private", "sh", "-c", script],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("ebs mounts the labelled volume, then accepts it as mounted", async () => {
  await using volume = await loopVolume();
  const config = writeConfig(
    volume.dir,
    `label = "${volume.label}"\nmount = true\ntimeout_seconds = 5`,
  );
  const role = roleCommand(volume.dir, config);
  const result = await inNamespace(
    `${role} && echo first-ok && ${role} && echo second-ok && grep ' ${volume.dir}/mnt ' /proc/mounts`,
  );
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /first-ok\nsecond-ok\n/);
  assert.match(
    result.stdout,
    new RegExp(`^${volume.device} ${volume.dir}/mnt ext4 `, "m"),
  );
});

Deno.test("ebs refuses a mount point that holds another filesystem", async () => {
  await using volume = await loopVolume();
  const config = writeConfig(
    volume.dir,
    `label = "${volume.label}"\ntimeout_seconds = 1`,
  );
  const result = await inNamespace(
    `mount -t tmpfs wrong '${volume.dir}/mnt' && ${
      roleCommand(volume.dir, config)
    }`,
  );
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    new RegExp(
      `Cannot use "${volume.dir}/mnt" as it holds wrong, not the volume labelled "${volume.label}" \\(${volume.device}\\)`,
    ),
  );
});

Deno.test("ebs gives up after its timeout when the volume is not mounted", async () => {
  await using volume = await loopVolume();
  const config = writeConfig(
    volume.dir,
    `label = "${volume.label}"\ntimeout_seconds = 1`,
  );
  const result = await inNamespace(roleCommand(volume.dir, config));
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    new RegExp(
      `Cannot find the data volume as the volume labelled "${volume.label}" \\(${volume.device}\\) is not mounted at "${volume.dir}/mnt" after 1 s`,
    ),
  );
  assert.match(result.stderr, /Waiting for the data volume/);
});
