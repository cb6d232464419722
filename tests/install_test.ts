/**
 * `deno task compile` and `deno task install/uninstall` into a temporary
 * root: the per-role artifacts (deno bundle + launcher here, where no denort
 * runtime exists), each launcher granting exactly its role's permissions,
 * the bundles running with those flags alone, the installed tree, and an
 * uninstall that leaves nothing behind.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../lib/config/mod.ts";
import {
  permissionFlags,
  ROLE_PERMISSIONS,
  type RoleName,
  v8Flags,
} from "../lib/permissions.ts";
import { commandName, compileAll, launcher } from "../tasks/compile.ts";
import { install, uninstall } from "../tasks/deploy.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const roles = Object.keys(ROLE_PERMISSIONS) as RoleName[];
let built: Promise<string> | undefined;

/** One build shared by the tests of this file. */
function dist(): Promise<string> {
  built ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "wgsync-dist-" });
    addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    const manifest = await compileAll(dir, "");
    assert.equal(manifest.kind, "bundle");
    return dir;
  })();
  return built;
}

async function tree(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (path: string) => {
    for await (const entry of Deno.readDir(path)) {
      const full = `${path}/${entry.name}`;
      found.push(full.slice(dir.length));
      if (entry.isDirectory) await walk(full);
    }
  };
  await walk(dir);
  return found.sort();
}

Deno.test("compile: without DENORT_BIN every role is a bundle and a launcher with exactly its permissions", async () => {
  const out = await dist();
  const manifest = JSON.parse(await Deno.readTextFile(`${out}/artifacts.json`));
  assert.deepEqual(
    Object.keys(manifest.roles).sort(),
    roles.map(commandName).sort(),
  );
  for (const role of roles) {
    const name = commandName(role);
    const script = await Deno.readTextFile(`${out}/bin/${name}`);
    assert.equal(script, launcher(role));
    const flags = [...v8Flags(role), ...permissionFlags(role)]
      .map((flag) => `'${flag}'`).join(" ");
    assert.ok(
      script.includes(
        ` '--unstable-net' ${flags} '/usr/lib/wgsync/lib/${name}.js' "$@"`,
      ),
      script,
    );
    assert.ok(((await Deno.stat(`${out}/bin/${name}`)).mode! & 0o111) !== 0);
  }
});

Deno.test("compile: a DENORT_BIN that is no denort runtime is refused, naming it", async () => {
  const out = await Deno.makeTempDir({ prefix: "wgsync-dist-bad-" });
  try {
    // deno compile itself fails on it (or builds something that is not the
    // role, which the --help check refuses).
    await assert.rejects(compileAll(out, "/bin/true"), {
      name: "Error",
      message:
        /^Cannot (build wgsync-ebs with deno compile|use DENORT_BIN as a denort runtime: the wgsync-ebs it built does not answer --help with its usage): DENORT_BIN is "\/bin\/true"$/,
    });
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

for (const role of Object.keys(ROLE_PERMISSIONS) as RoleName[]) {
  Deno.test(`compile: the ${role} bundle runs with only its launcher's flags, outside the repository`, async () => {
    const out = await dist();
    const name = commandName(role);
    const script = await Deno.readTextFile(`${out}/bin/${name}`);
    const exec = script.split("\n").find((line) => line.includes(" exec "))!;
    const argv = [...exec.matchAll(/'([^']*)'/g)].map((match) => match[1]);
    assert.equal(argv[0], "/usr/bin/deno");
    argv[argv.length - 1] = `${out}/lib/${name}.js`;
    const output = await new Deno.Command(Deno.execPath(), {
      args: [...argv.slice(1), "--help"],
      cwd: "/",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    assert.match(
      new TextDecoder().decode(output.stdout),
      new RegExp(`^Usage: ${name} \\[options\\]`),
    );
  });
}

Deno.test("install: artifacts, units, sysusers/tmpfiles entries and the example config into a root; uninstall leaves nothing", async () => {
  const out = await dist();
  const root = await Deno.makeTempDir({ prefix: "wgsync-root-" });
  try {
    const manifest = await install(root, { dist: out });
    const files = await tree(root);
    for (const role of roles) {
      assert.ok(files.includes(`/usr/lib/wgsync/bin/${commandName(role)}`));
      assert.ok(files.includes(`/usr/lib/wgsync/lib/${commandName(role)}.js`));
    }
    for (const entry of Deno.readDirSync(`${ROOT}units`)) {
      if (/\.(service|target)$/.test(entry.name)) {
        assert.ok(
          files.includes(`/usr/lib/systemd/system/${entry.name}`),
          entry.name,
        );
      }
    }
    for (
      const path of [
        "/usr/lib/sysusers.d/wgsync.conf",
        "/usr/lib/tmpfiles.d/wgsync.conf",
        "/usr/lib/wgsync/README.md",
        "/usr/lib/wgsync/install-manifest.json",
        "/etc/wgsync/wgsync.toml.example",
      ]
    ) assert.ok(files.includes(path), path);
    assert.equal(
      manifest.files.length + 1,
      files.filter((f) => !Deno.statSync(`${root}${f}`).isDirectory).length,
    );
    // The example configuration is valid as it stands.
    parseConfig(
      await Deno.readTextFile(`${root}/etc/wgsync/wgsync.toml.example`),
      "wgsync.toml.example",
    );
    // A second install over the first changes nothing in the listing.
    await install(root, { dist: out });
    assert.deepEqual(await tree(root), files);
    await uninstall(root);
    assert.deepEqual(await tree(root), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("uninstall keeps files it did not install, and their directories", async () => {
  const out = await dist();
  const root = await Deno.makeTempDir({ prefix: "wgsync-root-" });
  try {
    await install(root, { dist: out });
    await Deno.writeTextFile(`${root}/etc/wgsync/wgsync.toml`, "# mine\n");
    await uninstall(root);
    assert.deepEqual(await tree(root), [
      "/etc",
      "/etc/wgsync",
      "/etc/wgsync/wgsync.toml",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
