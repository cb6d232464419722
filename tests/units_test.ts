/**
 * The unit files pass `systemd-analyze verify` (real systemd) inside a
 * temporary root that holds them and an executable at each ExecStart path
 * (the compiled role binaries are not installed on a test machine).
 */
import assert from "node:assert/strict";

const UNITS = new URL("../units/", import.meta.url).pathname;

const units = [...Deno.readDirSync(UNITS)]
  .filter((entry) =>
    entry.isFile && /\.(service|target|timer)$/.test(entry.name)
  )
  .map((entry) => entry.name)
  .sort();

Deno.test("units: there is a unit file for every role with a module", () => {
  for (
    const role of [...Deno.readDirSync(new URL("../roles/", import.meta.url))]
  ) {
    const name = `wgsync-${
      role.name.replace(/\.ts$/, "").replaceAll("_", "-")
    }.service`;
    assert.ok(units.includes(name), `no units/${name} for roles/${role.name}`);
  }
});

for (const unit of units) {
  Deno.test(`units: ${unit} passes systemd-analyze verify`, async () => {
    const root = await Deno.makeTempDir({ prefix: "wgsync-units-" });
    try {
      await Deno.mkdir(`${root}/etc/systemd/system`, { recursive: true });
      for (const name of units) {
        const text = await Deno.readTextFile(`${UNITS}${name}`);
        await Deno.writeTextFile(`${root}/etc/systemd/system/${name}`, text);
        for (const [, path] of text.matchAll(/^Exec\w+=[-@:+!]*(\/\S+)/gm)) {
          await Deno.mkdir(`${root}${path.replace(/\/[^/]+$/, "")}`, {
            recursive: true,
          });
          await Deno.writeTextFile(`${root}${path}`, "#!/bin/sh\n", {
            mode: 0o755,
          });
        }
      }
      const output = await new Deno.Command("systemd-analyze", {
        args: ["verify", `--root=${root}`, unit],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(output.stderr);
      assert.equal(output.code, 0, stderr);
      assert.equal(stderr.trim(), "", `systemd-analyze warned about ${unit}`);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
}
