import assert from "node:assert/strict";
import { ConfigError, EX_CONFIG, loadConfig } from "../lib/config/mod.ts";
import { type RoleDefinition, runRole } from "../lib/role/mod.ts";

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
