/**
 * Installs wgsync into a root (default `/`) and removes it again:
 *
 *   deno task install [--root DIR] [--dist DIR]
 *   deno task uninstall [--root DIR]
 *
 * Installs the artifacts of `deno task compile` (built first when `dist/`
 * has none) into `/usr/lib/wgsync/`, the units into `/usr/lib/systemd/system/`,
 * `sysusers.d` and `tmpfiles.d` entries into `/usr/lib/`, the README (the
 * units' Documentation=) and an example configuration
 * `/etc/wgsync/wgsync.toml.example` (an existing `wgsync.toml` is never
 * touched). Every file and every directory it created is listed in
 * `/usr/lib/wgsync/install-manifest.json`; uninstall removes exactly those.
 * Into `/` it also applies the system users and runtime directories
 * (`systemd-sysusers`, `systemd-tmpfiles --create`) and reloads systemd when
 * it runs; users are left in place on uninstall, as packages do.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { dirname } from "node:path";
import { type ArtifactsManifest, compileAll, INSTALL_LIB } from "./compile.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const MANIFEST = `${INSTALL_LIB}/install-manifest.json`;

/** What an install created, relative to the root (absolute paths). */
export interface InstallManifest {
  kind: ArtifactsManifest["kind"];
  files: string[];
  /** Directories that did not exist before, parents first. */
  directories: string[];
}

/** The files to install: target path in the root → source path and mode. */
async function plan(
  dist: string,
): Promise<{ target: string; source: string; mode: number }[]> {
  const files: { target: string; source: string; mode: number }[] = [];
  const artifacts: ArtifactsManifest = JSON.parse(
    await Deno.readTextFile(`${dist}/artifacts.json`),
  );
  for (const paths of Object.values(artifacts.roles)) {
    for (const path of paths) {
      files.push({
        target: `${INSTALL_LIB}/${path}`,
        source: `${dist}/${path}`,
        mode: path.startsWith("bin/") ? 0o755 : 0o644,
      });
    }
  }
  files.push({
    target: `${INSTALL_LIB}/README.md`,
    source: `${ROOT}README.md`,
    mode: 0o644,
  });
  for await (const entry of Deno.readDir(`${ROOT}units`)) {
    if (entry.isFile && /\.(service|target|timer)$/.test(entry.name)) {
      files.push({
        target: `/usr/lib/systemd/system/${entry.name}`,
        source: `${ROOT}units/${entry.name}`,
        mode: 0o644,
      });
    }
  }
  for (const kind of ["sysusers.d", "tmpfiles.d"]) {
    files.push({
      target: `/usr/lib/${kind}/wgsync.conf`,
      source: `${ROOT}units/${kind}/wgsync.conf`,
      mode: 0o644,
    });
  }
  files.push({
    target: "/etc/wgsync/wgsync.toml.example",
    source: `${ROOT}units/wgsync.example.toml`,
    mode: 0o644,
  });
  return files.sort((a, b) => a.target.localeCompare(b.target));
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Creates `dir` and its missing parents in `root`; returns those it created. */
async function makeDirectories(root: string, dir: string): Promise<string[]> {
  const missing: string[] = [];
  for (let path = dir; path !== "/"; path = dirname(path)) {
    if (await exists(`${root}${path}`)) break;
    missing.unshift(path);
  }
  for (const path of missing) {
    await Deno.mkdir(`${root}${path}`, { mode: 0o755 });
    await Deno.chmod(`${root}${path}`, 0o755);
  }
  return missing;
}

async function system(command: string, args: string[]): Promise<void> {
  const output = await new Deno.Command(command, { args, stderr: "piped" })
    .output();
  if (!output.success) {
    throw new Error(
      `Cannot install as "${command} ${args.join(" ")}" failed: ${
        new TextDecoder().decode(output.stderr).trim()
      }`,
    );
  }
}

const systemdRuns = () => exists("/run/systemd/system");

/** Installs into `root` ("" or "/" for the running system). */
export async function install(
  root: string,
  options: { dist?: string } = {},
): Promise<InstallManifest> {
  const prefix = root.replace(/\/+$/, "");
  const dist = options.dist ?? `${ROOT}dist`;
  if (!(await exists(`${dist}/artifacts.json`))) await compileAll(dist);
  const previous = await readManifest(prefix);
  const files = await plan(dist);
  const manifest: InstallManifest = {
    kind: (JSON.parse(
      await Deno.readTextFile(`${dist}/artifacts.json`),
    ) as ArtifactsManifest).kind,
    files: [],
    directories: previous?.directories ?? [],
  };
  for (const file of [...files, { target: MANIFEST }]) {
    manifest.directories.push(
      ...await makeDirectories(prefix, dirname(file.target)),
    );
  }
  for (const { target, source, mode } of files) {
    await Deno.copyFile(source, `${prefix}${target}`);
    await Deno.chmod(`${prefix}${target}`, mode);
    manifest.files.push(target);
  }
  for (const stale of previous?.files ?? []) {
    if (!manifest.files.includes(stale)) {
      await Deno.remove(`${prefix}${stale}`).catch(() => {});
    }
  }
  await Deno.writeTextFile(
    `${prefix}${MANIFEST}`,
    JSON.stringify(manifest, null, 2) + "\n",
  );
  if (prefix === "") {
    await system("systemd-sysusers", ["wgsync.conf"]);
    await system("systemd-tmpfiles", ["--create", "wgsync.conf"]);
    if (await systemdRuns()) await system("systemctl", ["daemon-reload"]);
  }
  return manifest;
}

async function readManifest(
  prefix: string,
): Promise<InstallManifest | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(`${prefix}${MANIFEST}`));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Removes what {@linkcode install} put into `root`; returns the manifest, or undefined if none. */
export async function uninstall(
  root: string,
): Promise<InstallManifest | undefined> {
  const prefix = root.replace(/\/+$/, "");
  const manifest = await readManifest(prefix);
  if (manifest === undefined) return undefined;
  for (const file of [...manifest.files, MANIFEST]) {
    await Deno.remove(`${prefix}${file}`).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
  for (const dir of [...manifest.directories].reverse()) {
    // Only when empty: files someone else put there stay, with their parents.
    await Deno.remove(`${prefix}${dir}`).catch(() => {});
  }
  if (prefix === "" && await systemdRuns()) {
    await system("systemctl", ["daemon-reload"]);
  }
  return manifest;
}

if (import.meta.main) {
  const [command, ...rest] = Deno.args;
  const { values } = parseArgs({
    args: rest,
    options: {
      root: { type: "string", default: "/" },
      dist: { type: "string" },
    },
  });
  if (command === "install") {
    const manifest = await install(values.root!, { dist: values.dist });
    console.log(
      `install: ${manifest.files.length} files (${manifest.kind} artifacts) into ${values.root}`,
    );
  } else if (command === "uninstall") {
    const manifest = await uninstall(values.root!);
    console.log(
      manifest === undefined
        ? `uninstall: nothing installed in ${values.root}`
        : `uninstall: removed ${manifest.files.length} files from ${values.root}`,
    );
  } else {
    console.error(
      "Usage: deno run -A tasks/deploy.ts install|uninstall [--root DIR] [--dist DIR]",
    );
    Deno.exit(64);
  }
}
