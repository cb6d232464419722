/**
 * Asks util-linux's findmnt what is mounted at a path. (Deno grants scoped
 * reads of neither `/proc/self/mountinfo` nor `/proc/mounts`.)
 *
 * @module
 */

/** One mounted filesystem. */
export interface MountEntry {
  source: string;
  mountPoint: string;
  fsType: string;
}

/** The filesystem mounted at `path` (the top one when several are stacked), if any. */
export async function findMount(path: string): Promise<MountEntry | undefined> {
  const output = await new Deno.Command("findmnt", {
    args: ["--json", "-o", "SOURCE,TARGET,FSTYPE", "--mountpoint", path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  // findmnt exits 1 and prints nothing when nothing is mounted there.
  if (output.code === 1 && output.stdout.length === 0) return undefined;
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(
      `Cannot list mounts as findmnt exited ${output.code}: ${
        new TextDecoder().decode(output.stderr).trim()
      }`,
    );
  }
  return parseFindmnt(text).at(-1);
}

/** Parses `findmnt --json -o SOURCE,TARGET,FSTYPE`; anything else is an error. */
export function parseFindmnt(text: string): MountEntry[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new Error(
      `Cannot parse findmnt's output as JSON: ${text.slice(0, 200)}`,
      {
        cause: error,
      },
    );
  }
  const list = (data as { filesystems?: unknown }).filesystems;
  if (!Array.isArray(list)) {
    throw new Error(
      `Cannot parse findmnt's output: expected {"filesystems": [...]}, found ${
        text.slice(0, 200)
      }`,
    );
  }
  return list.map((item: Record<string, unknown>) => {
    const { source, target, fstype } = item;
    if (
      typeof source !== "string" || typeof target !== "string" ||
      typeof fstype !== "string"
    ) {
      throw new Error(
        `Cannot parse findmnt's output: expected source, target and fstype strings, found ${
          JSON.stringify(item)
        }`,
      );
    }
    return { source, mountPoint: target, fsType: fstype };
  });
}
