/**
 * Makes sure the data volume is mounted where wgsync-ldap keeps its store.
 *
 * @module
 */
import { findMount, type MountEntry } from "./findmnt.ts";
import { sleep } from "../async.ts";

/** Options for {@linkcode ensureVolumeMounted}. */
export interface EnsureVolumeOptions {
  /** Filesystem label the volume must carry; unchecked when undefined. */
  label?: string;
  /** Mount the volume (by label) when nothing is mounted. @default {false} */
  mount?: boolean;
  /** How long to wait for the volume to appear, in seconds. @default {60} */
  timeoutSeconds?: number;
  /** Seconds between checks while waiting. @default {1} */
  pollSeconds?: number;
  /** Stops the wait. */
  signal?: AbortSignal;
  /** Told once per check while waiting, with what is missing. */
  onWait?: (reason: string) => void;
}

/** The data volume is not, or not correctly, mounted. */
export class VolumeError extends Error {
  /** Builds the error from what was wrong. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "VolumeError";
  }
}

/** Waits until the right volume is mounted at `mountPoint`, mounting it if asked. */
export async function ensureVolumeMounted(
  mountPoint: string,
  options: EnsureVolumeOptions = {},
): Promise<MountEntry> {
  const {
    label,
    mount = false,
    timeoutSeconds = 60,
    pollSeconds = 1,
    signal,
    onWait,
  } = options;
  if (!mountPoint.startsWith("/")) {
    throw new TypeError(
      `Cannot check the data volume as the mount point is not absolute: path is "${mountPoint}"`,
    );
  }
  if (mount && label === undefined) {
    throw new TypeError(
      "Cannot mount the data volume as no label names it: set ebs.label",
    );
  }
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (true) {
    signal?.throwIfAborted();
    const entry = await findMount(mountPoint);
    const device = label === undefined ? undefined : await deviceByLabel(label);
    if (entry !== undefined) {
      if (device !== undefined && entry.source !== device) {
        throw new VolumeError(
          `Cannot use "${mountPoint}" as it holds ${entry.source}, not the volume labelled "${label}" (${device})`,
        );
      }
      if (label !== undefined && device === undefined) {
        throw new VolumeError(
          `Cannot use "${mountPoint}" as no volume is labelled "${label}": ${entry.source} is mounted there`,
        );
      }
      return entry;
    }
    if (mount && device !== undefined) {
      await run("mount", [device, mountPoint]);
      continue;
    }
    const reason = label === undefined
      ? `nothing is mounted at "${mountPoint}"`
      : device === undefined
      ? `no volume labelled "${label}" is attached`
      : `the volume labelled "${label}" (${device}) is not mounted at "${mountPoint}"`;
    if (Date.now() >= deadline) {
      throw new VolumeError(
        `Cannot find the data volume as ${reason} after ${timeoutSeconds} s`,
      );
    }
    onWait?.(reason);
    await sleep(pollSeconds * 1000);
  }
}

async function deviceByLabel(label: string): Promise<string | undefined> {
  const output = await new Deno.Command("blkid", {
    args: ["-c", "/dev/null", "-t", `LABEL=${label}`, "-o", "device"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  // blkid exits 2 when no device carries the label. A full probe without the
  // cache: `blkid -L` was seen to miss fresh devices where udev is absent.
  if (output.code === 2) return undefined;
  if (!output.success) {
    throw new VolumeError(
      `Cannot look up the volume labelled "${label}": blkid exited ${output.code}: ${
        new TextDecoder().decode(output.stderr).trim()
      }`,
    );
  }
  const devices = new TextDecoder().decode(output.stdout).trim().split("\n");
  if (devices.length > 1) {
    throw new VolumeError(
      `Cannot tell which volume to use as several carry the label "${label}": ${
        devices.join(", ")
      }`,
    );
  }
  return devices[0];
}

async function run(command: string, args: string[]): Promise<void> {
  const output = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new VolumeError(
      `Cannot mount the data volume: ${command} ${
        args.join(" ")
      } exited ${output.code}: ${
        new TextDecoder().decode(output.stderr).trim()
      }`,
    );
  }
}
