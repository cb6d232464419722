/**
 * The unit files pass `systemd-analyze verify` (real systemd) inside a
 * temporary root that holds them, the host's own system units, and an
 * executable at each Exec path (the compiled role binaries are not
 * installed on a test machine); and their dependencies are exactly the unit
 * graph written out below (a copy of DESIGN.md's table, completed; see GRAPH).
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
 * mount namespace; wgsync-channel-key (root, CAP_CHOWN only, no network) is
 * held to its 1.3 with a little room.
 */
const EXPOSURE_LIMITS: Record<string, number> = {
  "wgsync-channel-key.service": 1.5,
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

/** The settings that place a unit in the graph. */
const GRAPH_KEYS = [
  "Type",
  "Requires",
  "Requisite",
  "BindsTo",
  "PartOf",
  "Wants",
  "After",
  "Before",
  "WantedBy",
  "RequiredBy",
] as const;

/**
 * The unit graph, exactly: every unit and every setting of GRAPH_KEYS it has
 * (an absent key means the unit has none). A copy of the table "Unit graph"
 * in DESIGN.md (the design card, kept outside this repository, so CI cannot
 * read it), completed with what the repository adds to it: wgsync.target
 * (which starts the services, PartOf ties them to it), wgsync-web, and the
 * ordering edges each "needs" implies. DESIGN.md's rows map to settings so:
 * "must be running first" is Requires + After; "stops when it fails" is
 * BindsTo + After; network-online.target is Wants + After; k5start is
 * Type=forking. It also extends DESIGN.md's table with wgsync-channel-key
 * (not in DESIGN.md): the channel key is made per boot in /run rather than
 * kept at rest in /etc, so both ends of the channel need it first (Requires +
 * After), and it orders itself Before= them as wgsync-ebs does.
 */
const GRAPH: Record<
  string,
  Partial<Record<typeof GRAPH_KEYS[number], string[]>>
> = {
  // Extends DESIGN.md's table: the channel key per boot, nothing at rest.
  "wgsync-channel-key.service": {
    Type: ["oneshot"],
    Before: ["wgsync-event.service", "wgsync-ldap.service"],
  },
  "wgsync-event.service": {
    Type: ["notify"],
    Requires: ["wgsync-channel-key.service"],
    PartOf: ["wgsync.target"],
    Wants: ["network-online.target"],
    After: ["network-online.target", "wgsync-channel-key.service"],
    WantedBy: ["wgsync.target"],
  },
  "wgsync-ldap.service": {
    Type: ["notify"],
    Requires: [
      "wgsync-channel-key.service",
      "wgsync-ebs.service",
      "wgsync-event.service",
    ],
    BindsTo: ["wgsync-ldap-keytab.service"],
    PartOf: ["wgsync.target"],
    After: [
      "wgsync-channel-key.service",
      "wgsync-ebs.service",
      "wgsync-event.service",
      "wgsync-ldap-keytab.service",
    ],
    WantedBy: ["multi-user.target", "wgsync.target"],
  },
  "wgsync-ldap-keytab.service": {
    Type: ["forking"],
    Requires: ["wgsync-ldap-keytab-obtain.service"],
    Wants: ["network-online.target"],
    After: ["network-online.target", "wgsync-ldap-keytab-obtain.service"],
  },
  "wgsync-ldap-keytab-obtain.service": {
    Type: ["oneshot"],
    Wants: ["network-online.target"],
    After: ["network-online.target"],
  },
  "wgsync-ebs.service": {
    Type: ["oneshot"],
    After: ["local-fs.target"],
    Before: ["wgsync-ldap.service"],
  },
  "wgsync-remctl.service": {
    Type: ["notify"],
    BindsTo: ["wgsync-remctl-keytab.service"],
    PartOf: ["wgsync.target"],
    Wants: ["network-online.target"],
    After: ["network-online.target", "wgsync-remctl-keytab.service"],
    WantedBy: ["multi-user.target", "wgsync.target"],
  },
  "wgsync-remctl-keytab.service": {
    Type: ["forking"],
    Requires: ["wgsync-remctl-keytab-obtain.service"],
    Wants: ["network-online.target"],
    After: ["network-online.target", "wgsync-remctl-keytab-obtain.service"],
  },
  "wgsync-remctl-keytab-obtain.service": {
    Type: ["oneshot"],
    Wants: ["network-online.target"],
    After: ["network-online.target"],
  },
  "wgsync-web.service": {
    Type: ["notify"],
    PartOf: ["wgsync.target"],
    Wants: ["network-online.target"],
    After: ["network-online.target"],
    WantedBy: ["wgsync.target"],
  },
  "wgsync.target": {
    Wants: [
      "wgsync-event.service",
      "wgsync-ldap.service",
      "wgsync-remctl.service",
      "wgsync-web.service",
    ],
    WantedBy: ["multi-user.target"],
  },
};

/** A unit file's GRAPH_KEYS settings, each value list sorted. */
function graphSettings(text: string): Record<string, string[]> {
  const settings: Record<string, string[]> = {};
  for (const line of text.split("\n")) {
    const match = /^(\w+)=(.*)$/.exec(line.trim());
    if (!match || !(GRAPH_KEYS as readonly string[]).includes(match[1])) {
      continue;
    }
    const values = match[2].split(/\s+/).filter((value) => value !== "");
    // An empty assignment resets the list, as systemd reads it.
    settings[match[1]] = values.length === 0
      ? []
      : [...(settings[match[1]] ?? []), ...values];
  }
  for (const [key, values] of Object.entries(settings)) {
    if (values.length === 0) delete settings[key];
    else values.sort();
  }
  return settings;
}

Deno.test("units: every unit's dependencies are exactly the unit graph (DESIGN.md's, with wgsync.target and wgsync-web)", () => {
  const actual = Object.fromEntries(
    units.map((unit) => [
      unit,
      graphSettings(Deno.readTextFileSync(`${UNITS}${unit}`)),
    ]),
  );
  const expected = Object.fromEntries(
    Object.entries(GRAPH).sort(([a], [b]) => a < b ? -1 : 1).map((
      [unit, settings],
    ) => [
      unit,
      Object.fromEntries(
        Object.entries(settings).map((
          [key, values],
        ) => [key, [...values].sort()]),
      ),
    ]),
  );
  assert.deepEqual(actual, expected);
});
