/**
 * wgsync-ldap's /metrics and /healthz over real HTTP while it follows the
 * stack's real slapd (the role as a subprocess, `--stdout` mode): the
 * counters and gauges move with real directory changes. Parsed with an
 * independent Prometheus text parser.
 *
 * Needs: --allow-run (deno, ldapadd, ldapmodify, kill), --allow-read,
 * --allow-write=/tmp, --allow-net, --allow-env.
 */

import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { parse, stringify } from "smol-toml";
import { container, ldapUtil } from "./helpers/ldap_admin.ts";
import {
  RoleProcess,
  until,
  withTempDir,
  writeRoleConfig,
} from "./helpers/ldap_role.ts";
import { getStack } from "./helpers/stack.ts";

interface Family {
  name: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}

/** The value of `name` (with `labels`), undefined when absent. */
function value(
  families: Family[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const metric = families.find((f) => f.name === name)?.metrics.find((m) =>
    Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)
  );
  return metric === undefined ? undefined : Number(metric.value);
}

Deno.test("wgsync-ldap serves /metrics and /healthz on metrics_listen; a directory change moves the events counter and the last-change gauge", async () => {
  const stack = await getStack();
  await withTempDir(async (dir) => {
    const { base, groups } = await container(stack, 2);
    const files = await writeRoleConfig(stack, dir, { base, noChannel: true });
    const toml = parse(await Deno.readTextFile(files.config)) as {
      ldap: Record<string, unknown>;
    };
    toml.ldap.metrics_listen = "127.0.0.1:0";
    await Deno.writeTextFile(files.config, stringify(toml) + "\n");
    const role = RoleProcess.start(stack, files, { args: ["--stdout"] });
    try {
      await role.waitForLog(/Ready: running/);
      const port = /Serving metrics on 127\.0\.0\.1:(\d+)/.exec(role.stderr)
        ?.[1];
      assert.ok(port, role.stderr);
      const scrape = async () => {
        const response = await fetch(`http://127.0.0.1:${port}/metrics`);
        assert.equal(response.status, 200);
        return parsePrometheusTextFormat(await response.text()) as Family[];
      };
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(health.status, 200);
      assert.equal((await health.json()).ok, true);

      await until(() => role.lines.length >= 2, "the two created events");
      const before = await scrape();
      assert.equal(
        value(before, "wgsync_ldap_events_total", {
          type: "workgroup.created",
        }),
        2,
      );
      assert.equal(
        value(before, "wgsync_ldap_events_total", { type: "member.added" }),
        undefined,
      );
      assert.ok(value(before, "wgsync_ldap_refresh_duration_seconds")! > 0);
      assert.ok(value(before, "wgsync_ldap_cookie_age_seconds")! >= 0);
      assert.equal(value(before, "wgsync_ldap_guard_refusals_total"), 0);

      const changedBefore = value(
        before,
        "wgsync_ldap_last_change_timestamp_seconds",
      )!;
      await ldapUtil(
        stack,
        "ldapmodify",
        `dn: ${
          groups[0]
        }\nchangetype: modify\nadd: member\nmember: uid=metrics1,${stack.ldap.peopleBase}\n`,
      );
      await until(() => role.lines.length >= 3, "the member.added event");
      const after = await scrape();
      assert.equal(
        value(after, "wgsync_ldap_events_total", { type: "member.added" }),
        1,
      );
      assert.equal(
        value(after, "wgsync_ldap_events_total", { type: "workgroup.created" }),
        2,
      );
      assert.ok(
        value(after, "wgsync_ldap_last_change_timestamp_seconds")! >
          changedBefore,
        "the change moved the last-change time",
      );
      assert.equal(value(after, "wgsync_ldap_reconnects_total"), undefined);
      assert.equal(await role.stop(), 0, role.stderr);
    } finally {
      await role.kill();
    }
  });
});
