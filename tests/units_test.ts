/**
 * The unit files pass `systemd-analyze verify` (real systemd) inside a
 * temporary root that holds them, the host's own system units, and an
 * executable at each Exec path (the compiled role binaries are not
 * installed on a test machine).
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
    const base = role.name.replace(/\.ts$/, "").replaceAll("_", "-");
    // keytab-obtain runs once per instance: wgsync-<instance>-keytab-obtain.
    const names = base === "keytab-obtain"
      ? [
        "wgsync-ldap-keytab-obtain.service",
        "wgsync-remctl-keytab-obtain.service",
      ]
      : [`wgsync-${base}.service`];
    for (const name of names) {
      assert.ok(
        units.includes(name),
        `no units/${name} for roles/${role.name}`,
      );
    }
  }
});

/**
 * Highest `systemd-analyze security` exposure per service (README lists the
 * scores): 2.0 for the services; the keytab oneshots keep CAP_CHOWN and
 * CAP_DAC_OVERRIDE as root; wgsync-ebs mounts, so it has CAP_SYS_ADMIN and no
 * mount namespace.
 */
const EXPOSURE_LIMITS: Record<string, number> = {
  "wgsync-ebs.service": 4.0,
  "wgsync-ldap-keytab-obtain.service": 2.5,
  "wgsync-remctl-keytab-obtain.service": 2.5,
};

for (const unit of units) {
  Deno.test(`units: ${unit} passes systemd-analyze verify and security`, async () => {
    const root = await Deno.makeTempDir({ prefix: "wgsync-units-" });
    try {
      await Deno.mkdir(`${root}/etc/systemd/system`, { recursive: true });
      await Deno.mkdir(`${root}/usr/lib/systemd`, { recursive: true });
      const copy = await new Deno.Command("cp", {
        args: ["-a", "/usr/lib/systemd/system", `${root}/usr/lib/systemd/`],
      }).output();
      assert.ok(copy.success, "cannot copy the host's system units");
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
      if (unit.endsWith(".service")) {
        const security = await new Deno.Command("systemd-analyze", {
          args: ["security", "--offline=yes", `--root=${root}`, unit],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = new TextDecoder().decode(security.stdout);
        const score = Number(
          /Overall exposure level for \S+: ([\d.]+)/.exec(text)?.[1],
        );
        const limit = EXPOSURE_LIMITS[unit] ?? 2.0;
        assert.ok(
          score <= limit,
          `${unit}: exposure ${score} is above ${limit}\n${text}`,
        );
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
}

/** The unit graph of DESIGN.md: what each unit needs, and how. */
const GRAPH: Record<string, Record<string, string[]>> = {
  "wgsync-event.service": {
    Type: ["notify"],
    After: ["network-online.target"],
    Wants: ["network-online.target"],
  },
  "wgsync-ldap.service": {
    Type: ["notify"],
    Requires: ["wgsync-event.service", "wgsync-ebs.service"],
    BindsTo: ["wgsync-ldap-keytab.service"],
    After: [
      "wgsync-event.service",
      "wgsync-ebs.service",
      "wgsync-ldap-keytab.service",
    ],
  },
  "wgsync-ldap-keytab.service": {
    Requires: ["wgsync-ldap-keytab-obtain.service"],
    After: ["network-online.target", "wgsync-ldap-keytab-obtain.service"],
  },
  "wgsync-ldap-keytab-obtain.service": {
    Type: ["oneshot"],
    After: ["network-online.target"],
  },
  "wgsync-ebs.service": { Type: ["oneshot"] },
  "wgsync-web.service": { Type: ["notify"] },
  "wgsync.target": {
    Wants: [
      "wgsync-event.service",
      "wgsync-ldap.service",
      "wgsync-remctl.service",
      "wgsync-web.service",
    ],
  },
  "wgsync-remctl.service": {
    Type: ["notify"],
    BindsTo: ["wgsync-remctl-keytab.service"],
    After: ["wgsync-remctl-keytab.service"],
    WantedBy: ["multi-user.target"],
  },
  "wgsync-remctl-keytab.service": {
    Requires: ["wgsync-remctl-keytab-obtain.service"],
    After: ["network-online.target", "wgsync-remctl-keytab-obtain.service"],
  },
  "wgsync-remctl-keytab-obtain.service": {
    Type: ["oneshot"],
    After: ["network-online.target"],
  },
};

Deno.test("units: the unit graph is the one of DESIGN.md", () => {
  assert.deepEqual(units, Object.keys(GRAPH).sort());
  for (const [unit, wanted] of Object.entries(GRAPH)) {
    const settings: Record<string, string[]> = {};
    for (const line of Deno.readTextFileSync(`${UNITS}${unit}`).split("\n")) {
      const match = /^(\w+)=(.*)$/.exec(line);
      if (match) {
        (settings[match[1]] ??= []).push(...match[2].split(/\s+/));
      }
    }
    for (const [key, values] of Object.entries(wanted)) {
      for (const value of values) {
        assert.ok(
          settings[key]?.includes(value),
          `${unit}: expected ${key}=${value}, found ${key}=${settings[key]}`,
        );
      }
    }
  }
});
