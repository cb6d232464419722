import assert from "node:assert/strict";
import { ROLE_PERMISSIONS, type RoleName } from "../lib/permissions.ts";
import { shebangProblems } from "../tasks/permissions.ts";

Deno.test("role shebangs grant exactly the permissions of lib/permissions.ts", () => {
  assert.deepEqual(shebangProblems(), []);
});

for (const role of Object.keys(ROLE_PERMISSIONS) as RoleName[]) {
  Deno.test(`roles/${role}.ts runs directly through its shebang`, async () => {
    const path = new URL(`../roles/${role}.ts`, import.meta.url).pathname;
    const info = await Deno.stat(path);
    assert.ok(((info.mode ?? 0) & 0o111) !== 0, `${path} is not executable`);
    const output = await new Deno.Command(path, {
      args: ["--help"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    assert.match(
      new TextDecoder().decode(output.stdout),
      new RegExp(`^Usage: wgsync-${role.replaceAll("_", "-")} \\[options\\]`),
    );
  });
}

Deno.test("a role is denied a configuration path it was not granted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-perm-" });
  try {
    const config = `${dir}/wgsync.toml`;
    await Deno.writeTextFile(config, `[ebs]\nmount_point = "${dir}"\n`);
    const role = new URL("../roles/ebs.ts", import.meta.url).pathname;
    // The shebang grants reading /etc/wgsync only, not the temporary directory.
    const output = await new Deno.Command(role, {
      args: ["--config", config, "--check-config"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 78);
    assert.match(
      new TextDecoder().decode(output.stderr),
      new RegExp(
        `path is "${config}"[\\s\\S]*expected a readable TOML file, found a path this role is not permitted to read`,
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
