/**
 * wgsync-web's parts on bad and hostile input, without a browser: who counts
 * as an admin, CSRF tokens, the `[web]` section, `/metrics` answers that are
 * not the Prometheus text format, the key figures, and queue messages whose
 * bodies cannot be read.
 *
 * @module
 */
import assert from "node:assert/strict";
import { webSchema } from "../lib/config/schema.ts";
import { roleCommand } from "../tasks/launch.ts";
import { Access } from "../lib/wgsync_web/access.ts";
import { FIGURES, type Totals } from "../lib/wgsync_web/figures.ts";
import { toLiveEvent } from "../lib/wgsync_web/live.ts";
import { familyTotals, parseMetrics } from "../lib/wgsync_web/prometheus.ts";

const access = new Access({
  header: "X-Remote-User",
  trustedProxies: ["10.0.0.5", "::1"],
  admins: ["alice"],
});
const headers = (user?: string) =>
  new Headers(user === undefined ? {} : { "x-remote-user": user });

Deno.test("an admin is an allow-listed name sent by a trusted proxy, nothing else", () => {
  assert.deepEqual(
    [
      access.viewer(headers("alice"), "10.0.0.5"),
      access.viewer(headers("alice"), "::ffff:10.0.0.5"),
      access.viewer(headers("alice"), "[::1]"),
      access.viewer(headers("alice"), "10.0.0.6"),
      access.viewer(headers("bob"), "10.0.0.5"),
      access.viewer(headers(" "), "10.0.0.5"),
      access.viewer(headers(), "10.0.0.5"),
    ],
    [
      { admin: "alice", address: "10.0.0.5" },
      { admin: "alice", address: "10.0.0.5" },
      { admin: "alice", address: "::1" },
      { claimed: "alice", address: "10.0.0.6" },
      { claimed: "bob", address: "10.0.0.5" },
      { address: "10.0.0.5" },
      { address: "10.0.0.5" },
    ],
  );
});

Deno.test("a CSRF token is valid for its admin in its process only", () => {
  const token = access.csrfToken("alice");
  const other = new Access({
    header: "X-Remote-User",
    trustedProxies: ["10.0.0.5"],
    admins: ["alice"],
  });
  assert.deepEqual(
    [
      access.checkCsrf("alice", token),
      access.checkCsrf("bob", token),
      access.checkCsrf("alice", token.slice(1)),
      access.checkCsrf("alice", undefined),
      access.checkCsrf("alice", ["x"]),
      other.checkCsrf("alice", token),
    ],
    [true, false, false, false, false, false],
  );
});

Deno.test("[web] is validated: admins need a trusted proxy, names unique, addresses real", () => {
  const problems = (input: unknown) => {
    const result = webSchema.safeParse(input);
    return result.success
      ? []
      : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  };
  assert.deepEqual(problems({}), []);
  assert.equal(webSchema.parse({}).listen, "127.0.0.1:8080");
  assert.deepEqual(problems({ admins: ["alice"] }), [
    "trusted_proxies: admins are only recognised through a trusted proxy: set trusted_proxies",
  ]);
  assert.deepEqual(
    problems({
      roles: [{ name: "ldap", url: "http://127.0.0.1:1" }, {
        name: "ldap",
        url: "http://127.0.0.1:2",
      }],
    }),
    ["roles: role names must be unique"],
  );
  assert.deepEqual(
    problems({ trusted_proxies: ["proxy.example.edu"] }).length,
    1,
  );
  assert.deepEqual(problems({ admin_header: "X Remote User" }), [
    'admin_header: expected an HTTP header name such as "X-Remote-User"',
  ]);
});

Deno.test("a /metrics answer that is not the Prometheus text format is refused by name", () => {
  assert.throws(
    () =>
      parseMetrics(
        "<html><body>502 Bad Gateway</body></html>",
        "http://h/metrics",
      ),
    {
      name: "MetricsFormatError",
      message:
        'Cannot read the metrics as a sample is not in the Prometheus text format: source is "http://h/metrics", metric is "<html><body>502"',
    },
  );
  assert.throws(() => parseMetrics("a b c\n", "http://h/metrics"), {
    name: "MetricsFormatError",
    message:
      'Cannot read the metrics as a sample is not in the Prometheus text format: source is "http://h/metrics", metric is "a"',
  });
  assert.deepEqual(parseMetrics("", "x"), []);
  assert.equal(parseMetrics("up 1", "x")[0].metrics[0].value, "1");
});

Deno.test("figures: events in the last minute, mean latency between scrapes, ages from timestamps", () => {
  const totals = (t: number, text: string): Totals => ({
    t,
    families: familyTotals(parseMetrics(text, "test")),
  });
  const then = totals(
    0,
    [
      "# TYPE wgsync_event_published_total counter",
      'wgsync_event_published_total{type="member.added"} 10',
      "# TYPE wgsync_event_publish_latency_seconds histogram",
      'wgsync_event_publish_latency_seconds_bucket{le="+Inf"} 4',
      "wgsync_event_publish_latency_seconds_sum 2",
      "wgsync_event_publish_latency_seconds_count 4",
    ].join("\n"),
  );
  const now = totals(
    30_000,
    [
      "# TYPE wgsync_event_published_total counter",
      'wgsync_event_published_total{type="member.added"} 40',
      'wgsync_event_published_total{type="member.removed"} 10',
      "# TYPE wgsync_event_publish_latency_seconds histogram",
      'wgsync_event_publish_latency_seconds_bucket{le="+Inf"} 8',
      "wgsync_event_publish_latency_seconds_sum 3",
      "wgsync_event_publish_latency_seconds_count 8",
      "# TYPE wgsync_ldap_last_change_timestamp_seconds gauge",
      "wgsync_ldap_last_change_timestamp_seconds 20",
    ].join("\n"),
  );
  const values = Object.fromEntries(
    FIGURES.map((f) => [f.key, f.compute(now, then)]),
  );
  assert.deepEqual(values, {
    // 40 more in 30 s: the last minute holds 40 (a short history is not extrapolated).
    events_per_minute: 40,
    publish_latency: 0.25,
    remctl_latency: undefined,
    outbox_depth: undefined,
    queue_age: undefined,
    paused_targets: undefined,
    since_directory_change: 10,
  });
});

Deno.test("a queue message with a bad body is listed with the reason, not dropped", () => {
  const attributes = {
    type: { DataType: "String", StringValue: "member.added" },
    stem: { DataType: "String", StringValue: "uit" },
    workgroup: { DataType: "String", StringValue: "uit:helpdesk" },
  };
  const events = [
    "not json",
    "[1,2]",
    '["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"b","s3Key":"k"}]',
    '["software.amazon.payloadoffloading.PayloadS3Pointer",{}]',
  ].map((Body) =>
    toLiveEvent({
      Body,
      MessageId: "m",
      MessageAttributes: attributes,
      Attributes: { MessageDeduplicationId: "e" },
    })
  );
  assert.deepEqual(
    events.map(({ receivedAt: _, ...event }) => event),
    [
      {
        id: "e",
        type: "member.added",
        stem: "uit",
        workgroup: "uit:helpdesk",
        problem:
          `Cannot read the event as its body is not JSON: Unexpected token 'o', "not json" is not valid JSON`,
      },
      {
        id: "e",
        type: "member.added",
        stem: "uit",
        workgroup: "uit:helpdesk",
        problem:
          "Cannot read the event as its body is not a JSON object: got an array",
      },
      {
        id: "e",
        type: "member.added",
        stem: "uit",
        workgroup: "uit:helpdesk",
        offloaded: true,
      },
      {
        id: "e",
        type: "member.added",
        stem: "uit",
        workgroup: "uit:helpdesk",
        problem:
          'Cannot resolve the claim-check pointer as it is malformed: expected a non-empty string "s3BucketName", found ["software.amazon.payloadoffloading.PayloadS3Pointer",{}]',
      },
    ],
  );
});

Deno.test("--check-config refuses a [web] section that would not start, naming the key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-web-config-" });
  try {
    const config = `${dir}/wgsync.toml`;
    await Deno.writeTextFile(
      config,
      [
        "[aws]",
        'region = "us-west-2"',
        "[web]",
        'admins = ["alice"]',
        'listen = "127.0.0.1:8080"',
        "",
      ].join("\n"),
    );
    const output = await roleCommand("web", {
      args: ["--config", config, "--check-config"],
      extraRead: [dir],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 78);
    assert.match(
      new TextDecoder().decode(output.stderr),
      /key "web\.trusted_proxies" admins are only recognised through a trusted proxy: set trusted_proxies/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
