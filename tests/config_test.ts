import assert from "node:assert/strict";
import { ConfigError, EX_CONFIG, loadConfig } from "../lib/config/mod.ts";
import { defineRole, type RoleDefinition, runRole } from "../lib/role/mod.ts";
import { roleCommand } from "../tasks/launch.ts";
import { z } from "zod";

const VALID = `
stop_timeout_seconds = 5

[log]
level = "debug"

[ldap]
url = "ldap://ldap.example.edu"
start_tls = true
data_dir = "/var/lib/wgsync"
bind = { method = "gssapi", ccache = "/run/wgsync-ldap/krb5cc", sasl_host = "ldap.example.edu" }
workgroups = { base = "ou=workgroups,dc=example,dc=edu" }

[channel]
socket = "/run/wgsync/event.sock"
auth_key_file = "KEY_FILE"

[ebs]
mount_point = "/var/lib/wgsync"
label = "wgsync-data"
`;

function tempConfig(text: string): { dir: string; path: string; key: string } {
  const dir = Deno.makeTempDirSync({ prefix: "wgsync-config-" });
  const key = `${dir}/channel.key`;
  Deno.writeTextFileSync(key, "k".repeat(32), { mode: 0o600 });
  const path = `${dir}/wgsync.toml`;
  Deno.writeTextFileSync(path, text.replace("KEY_FILE", key));
  return { dir, path, key };
}

/** Runs `--check-config` through the real role entry point; returns status and stderr. */
async function checkConfig(
  path: string,
  sections: RoleDefinition["sections"],
): Promise<{ status: number; stderr: string }> {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    const status = await runRole({
      name: "config-test",
      summary: "exercises configuration checks",
      sections,
      main: () => Promise.reject(new Error("main must not run")),
    }, { argv: ["--config", path, "--check-config"] });
    return { status, stderr: lines.join("\n") };
  } finally {
    console.error = original;
  }
}

Deno.test("config: a valid file loads with defaults filled in", () => {
  const { dir, path } = tempConfig(VALID);
  try {
    const config = loadConfig(path, { sections: ["ldap", "channel", "ebs"] });
    assert.equal(config.log.level, "debug");
    assert.equal(config.ldap?.workgroups.filter, "(objectClass=groupOfNames)");
    assert.equal(config.ldap?.mass_delete_threshold, 0.1);
    assert.equal(config.channel?.connections, 4);
    assert.deepEqual(
      config.ldap?.bind.method === "gssapi" &&
        config.ldap.bind.security_layers,
      ["confidentiality", "integrity", "none"],
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

const INVALID: [string, (text: string) => string, RegExp][] = [
  [
    "bad TOML",
    (text) => text.replace('level = "debug"', "level = debug"),
    /expected valid TOML at line 5, column \d+/,
  ],
  [
    "an unknown key",
    (text) =>
      text.replace("start_tls = true", "start_tls = true\nstarttls = 1"),
    /key "ldap\.starttls" is not a known setting/,
  ],
  [
    "a wrong type",
    (text) => text.replace("start_tls = true", 'start_tls = "yes"'),
    /key "ldap\.start_tls" expected boolean, found "yes"/,
  ],
  [
    "a missing required key",
    (text) => text.replace('url = "ldap://ldap.example.edu"\n', ""),
    /key "ldap\.url" is required: expected string, found nothing/,
  ],
  [
    "a malformed value",
    (text) =>
      text.replace("ldap://ldap.example.edu", "http://ldap.example.edu"),
    /key "ldap\.url" expected an LDAP URL such as "ldap:\/\/ldap\.example\.edu", found "http:\/\/ldap\.example\.edu"/,
  ],
  [
    "an unreadable secret path",
    (text) => text.replace("KEY_FILE", "/nonexistent/channel.key"),
    /key "channel\.auth_key_file" expected a readable secret file, found no such file: path is "\/nonexistent\/channel\.key"/,
  ],
  [
    "an inline secret",
    (text) =>
      text.replace(
        'auth_key_file = "KEY_FILE"',
        'auth_key_file = "KEY_FILE"\nauth_key = "hunter2"',
      ),
    /key "channel\.auth_key" is not a known setting/,
  ],
];

for (const [what, mutate, message] of INVALID) {
  Deno.test(`config: ${what} exits ${EX_CONFIG} naming the key and value`, async () => {
    const { dir, path } = tempConfig(mutate(VALID));
    try {
      assert.throws(
        () => loadConfig(path, { sections: ["ldap", "channel"] }),
        (error) => error instanceof ConfigError && message.test(error.message),
      );
      const { status, stderr } = await checkConfig(path, ["ldap", "channel"]);
      assert.equal(status, EX_CONFIG);
      assert.match(stderr, message);
      assert.match(stderr, new RegExp(`path is "${path}"`));
      assert.doesNotMatch(stderr, /hunter2/);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
}

Deno.test("config: validating a file leaves zod's JIT setting as it was, for a valid and an invalid file", () => {
  const { dir, path } = tempConfig(VALID);
  try {
    for (const jitless of [false, true]) {
      z.config({ jitless });
      loadConfig(path, { sections: ["ldap"] });
      assert.equal(z.config().jitless, jitless);
      assert.throws(() => loadConfig(path, { sections: ["remctl"] }), {
        name: "ConfigError",
      });
      assert.equal(z.config().jitless, jitless);
    }
  } finally {
    z.config({ jitless: false });
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("config: a secret file readable by others is refused", async () => {
  const { dir, path, key } = tempConfig(VALID);
  try {
    Deno.chmodSync(key, 0o644);
    const { status, stderr } = await checkConfig(path, ["channel"]);
    assert.equal(status, EX_CONFIG);
    assert.match(
      stderr,
      /key "channel\.auth_key_file" expected a secret file of mode 0600 or tighter, found mode 0644/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("config: a role's missing section is an error, others' are not", async () => {
  const { dir, path } = tempConfig(VALID);
  try {
    assert.equal((await checkConfig(path, ["ebs"])).status, 0);
    const { status, stderr } = await checkConfig(path, ["event"]);
    assert.equal(status, EX_CONFIG);
    assert.match(
      stderr,
      /key "event" expected a \[event\] section, found none/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("config: a missing file exits 78 naming the path", async () => {
  const { status, stderr } = await checkConfig("/nonexistent/wgsync.toml", []);
  assert.equal(status, EX_CONFIG);
  assert.match(stderr, /"\/nonexistent\/wgsync\.toml"/);
  assert.match(stderr, /expected a readable TOML file, found no such file/);
});

/** Runs the real roles/ldap.ts with its exact permissions plus the test directory. */
async function ldapRole(
  dir: string,
  args: string[],
): Promise<{ status: number; stdout: string; stderr: string }> {
  const output = await roleCommand("ldap", {
    args,
    extraRead: [dir],
    env: { NO_COLOR: "1", NOTIFY_SOCKET: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    status: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

const WITHOUT_CHANNEL = VALID.replace(
  /\[channel\]\nsocket = .*\nauth_key_file = .*\n/,
  "",
);

Deno.test("wgsync-ldap --check-config requires [channel] unless --stdout, and the start exits 78 as the check does", async () => {
  assert.notEqual(WITHOUT_CHANNEL, VALID);
  const { dir, path } = tempConfig(WITHOUT_CHANNEL);
  try {
    const missing = /key "channel" expected a \[channel\] section, found none/;
    const check = await ldapRole(dir, ["--config", path, "--check-config"]);
    assert.deepEqual(
      { status: check.status, missing: missing.test(check.stderr) },
      { status: EX_CONFIG, missing: true },
      check.stderr,
    );
    const start = await ldapRole(dir, ["--config", path]);
    assert.deepEqual(
      { status: start.status, missing: missing.test(start.stderr) },
      { status: EX_CONFIG, missing: true },
      start.stderr,
    );
    const stdout = await ldapRole(dir, [
      "--config",
      path,
      "--stdout",
      "--check-config",
    ]);
    assert.equal(stdout.status, 0, stdout.stderr);
    assert.match(stdout.stdout, /wgsync-ldap: configuration ".*" is valid/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("wgsync-ldap --check-config refuses a channel key file that is missing or mode 0644", async () => {
  const { dir, path, key } = tempConfig(VALID);
  try {
    Deno.chmodSync(key, 0o644);
    const loose = await ldapRole(dir, ["--config", path, "--check-config"]);
    assert.equal(loose.status, EX_CONFIG, loose.stderr);
    assert.match(
      loose.stderr,
      /key "channel\.auth_key_file" expected a secret file of mode 0600 or tighter, found mode 0644/,
    );
    Deno.removeSync(key);
    const gone = await ldapRole(dir, ["--config", path, "--check-config"]);
    assert.equal(gone.status, EX_CONFIG, gone.stderr);
    assert.match(
      gone.stderr,
      /key "channel\.auth_key_file" expected a readable secret file, found no such file/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

const REFUSED_AT_START: [string, (text: string) => string, string][] = [
  [
    "ldaps:// with start_tls = true",
    (text) =>
      text.replace("ldap://ldap.example.edu", "ldaps://ldap.example.edu"),
    'key "ldap.start_tls" expected false with an ldaps:// URL (the connection already uses TLS), found true: url is "ldaps://ldap.example.edu"',
  ],
  [
    "a CA file that is not there",
    (text) =>
      text.replace(
        "start_tls = true",
        'start_tls = true\nca_file = "/etc/wgsync/no-such-ca.pem"',
      ),
    'key "ldap.ca_file" expected a readable file, found no such file: path is "/etc/wgsync/no-such-ca.pem"',
  ],
  [
    "a channel over TCP to another host",
    (text) =>
      text.replace(
        'socket = "/run/wgsync/event.sock"',
        'tcp = "192.0.2.7:7000"',
      ),
    'key "channel.tcp" is refused by the channel: Cannot use the channel address as the host is not loopback: hostname is "192.0.2.7", expected 127.0.0.0/8 or ::1',
  ],
];

for (const [what, mutate, problem] of REFUSED_AT_START) {
  Deno.test(`wgsync-ldap --check-config and the start refuse ${what} with exit 78`, async () => {
    const { dir, path } = tempConfig(mutate(VALID));
    try {
      for (const extra of [["--check-config"], []]) {
        const run = await ldapRole(dir, ["--config", path, ...extra]);
        assert.equal(run.status, EX_CONFIG, run.stderr);
        assert.deepEqual(
          run.stderr.split("\n").filter((line) => line.startsWith("  ")),
          [`  ${problem}`],
        );
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
}

Deno.test("defineRole types main's configuration with the role's sections present", () => {
  const role = defineRole({
    name: "typed",
    summary: "a role for the type check",
    sections: ["ebs"],
    main({ config }) {
      // Compiles without `!`: [ebs] is one of the role's sections.
      const mountPoint: string = config.ebs.mount_point;
      // @ts-expect-error [ldap] is not, so it may be undefined.
      const url: string = config.ldap.url;
      return Promise.resolve(void [mountPoint, url]);
    },
  });
  assert.deepEqual(role.sections, ["ebs"]);
});
