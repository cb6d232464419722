/**
 * The boot test: a real systemd as PID 1 in a sandbox (tests/helpers/boot.ts,
 * ENVIRONMENT.md's recipe), wgsync installed into it by `deno task install
 * --root` from the artifacts of `deno task compile`, its configuration
 * pointing at the local stack on the host's 127.0.0.1 (real KDC, slapd,
 * moto's KMS). Everything asserted is read from systemd itself: unit
 * properties (`systemctl show`), the journal (`journalctl -o json`) and the
 * files the units left in the sandbox's /run.
 *
 * The roles whose modules exist in roles/ are booted; a unit whose role has
 * not landed yet is left out (the test names them), rather than faked.
 */
import assert from "node:assert/strict";
import { ROLE_PERMISSIONS } from "../lib/permissions.ts";
import { compileAll } from "../tasks/compile.ts";
import { BootedSystem } from "./helpers/boot.ts";
import { stageWgsync } from "./helpers/boot_stage.ts";
import { getStack } from "./helpers/stack.ts";

const roles = new Set(Object.keys(ROLE_PERMISSIONS));
/** Roles of the design whose modules have not landed: their units are left out. */
const missing = ["event", "remctl", "web"].filter((role) => !roles.has(role));

const TIMES = [
  "ActiveState",
  "SubState",
  "Result",
  "Type",
  "InactiveExitTimestampMonotonic",
  "ActiveEnterTimestampMonotonic",
  "ExecMainStartTimestampMonotonic",
  "ExecMainStatus",
  "MainPID",
  "NRestarts",
];

Deno.test("boot: wgsync under a real systemd as PID 1", async (t) => {
  if (missing.length > 0) {
    console.error(
      `boot: left out as their roles have not landed: ${
        missing.map((role) => `wgsync-${role}`).join(", ")
      }${
        missing.includes("event")
          ? " (and wgsync-ldap, which requires wgsync-event)"
          : ""
      }`,
    );
  }
  const stack = await getStack();
  const dist = await Deno.makeTempDir({ prefix: "wgsync-boot-dist-" });
  const built = await compileAll(dist, "");
  assert.equal(built.kind, "bundle");
  const system = await BootedSystem.boot({
    dist,
    stage: (dir) => stageWgsync(stack, dir),
  });
  const show = (unit: string) => system.show(unit, TIMES);
  const number = (value: string) => Number(value);
  try {
    await t.step(
      "the keytab oneshots decrypt both keytabs into /run: 0400, owned by the service user",
      async () => {
        await system.systemctl(
          "start",
          "wgsync-ldap-keytab.service",
          "wgsync-remctl-keytab.service",
          "wgsync-ebs.service",
        );
        for (const instance of ["ldap", "remctl"]) {
          const obtain = await show(`wgsync-${instance}-keytab-obtain.service`);
          assert.deepEqual(
            [obtain.Type, obtain.ActiveState, obtain.SubState, obtain.Result],
            ["oneshot", "active", "exited", "success"],
          );
          const keytab = await system.stat(`/run/wgsync-${instance}/keytab`);
          assert.deepEqual([keytab.mode, keytab.user], [
            "400",
            `wgsync-${instance}`,
          ]);
          assert.deepEqual(
            await system.read(`/run/wgsync-${instance}/keytab`),
            await Deno.readFile(
              instance === "ldap"
                ? stack.keytabs.ldapClient
                : stack.keytabs.remctlClient,
            ),
          );
        }
      },
    );

    await t.step(
      "k5start runs as the service user after its oneshot; the ticket cache is 0600 and that user's",
      async () => {
        for (const instance of ["ldap", "remctl"]) {
          const obtain = await show(`wgsync-${instance}-keytab-obtain.service`);
          const k5start = await show(`wgsync-${instance}-keytab.service`);
          assert.deepEqual([k5start.ActiveState, k5start.SubState], [
            "active",
            "running",
          ]);
          assert.ok(
            number(k5start.InactiveExitTimestampMonotonic) >=
              number(obtain.ActiveEnterTimestampMonotonic),
            `k5start started before its keytab was obtained: ${
              JSON.stringify({ obtain, k5start })
            }`,
          );
          const status = await system.run("cat", [
            `/proc/${k5start.MainPID}/status`,
          ]);
          const uid = /^Uid:\s+(\d+)/m.exec(status.stdout)?.[1];
          const user = await system.run("id", ["-u", `wgsync-${instance}`]);
          assert.equal(uid, user.stdout.trim());
          const ccache = await system.stat(`/run/wgsync-${instance}/krb5cc`);
          assert.deepEqual([ccache.mode, ccache.uid], ["600", Number(uid)]);
        }
      },
    );

    await t.step(
      "wgsync-ebs: oneshot active (exited) once the data volume is mounted",
      async () => {
        const ebs = await show("wgsync-ebs.service");
        assert.deepEqual(
          [ebs.Type, ebs.ActiveState, ebs.SubState, ebs.Result],
          ["oneshot", "active", "exited", "success"],
        );
      },
    );

    await t.step(
      "each role's records are in the journal with WGSYNC_* fields",
      async () => {
        for (
          const unit of [
            "wgsync-ldap-keytab-obtain.service",
            "wgsync-remctl-keytab-obtain.service",
            "wgsync-ebs.service",
          ]
        ) {
          const records = await system.journal(["-u", unit]);
          const own = records.filter((record) =>
            typeof record.SYSLOG_IDENTIFIER === "string" &&
            (record.SYSLOG_IDENTIFIER as string).startsWith("wgsync-")
          );
          assert.ok(own.length > 0, `no records of ${unit}`);
          assert.ok(
            own.some((record) =>
              Object.keys(record).some((key) => key.startsWith("WGSYNC_"))
            ),
            `no WGSYNC_* field in the records of ${unit}: ${
              JSON.stringify(own)
            }`,
          );
        }
        const obtained = (await system.journal([
          "-u",
          "wgsync-ldap-keytab-obtain.service",
        ])).find((record) => record.WGSYNC_KEYTAB !== undefined);
        assert.equal(obtained?.WGSYNC_KEYTAB, "/run/wgsync-ldap/keytab");
        assert.equal(obtained?.WGSYNC_PRINCIPAL, stack.principals.ldapClient);
      },
    );

    await t.step(
      "a bad configuration fails the oneshot once with 78: failed, no restart loop",
      async () => {
        await system.run("/bin/sh", [
          "-c",
          "cp -p /etc/wgsync/wgsync.toml /etc/wgsync/good.toml && printf 'unknown_key = 1\\n' >> /etc/wgsync/wgsync.toml",
        ]);
        try {
          const result = await system.run("systemctl", [
            "restart",
            "wgsync-ldap-keytab-obtain.service",
          ]);
          assert.notEqual(result.code, 0);
          const unit = await show("wgsync-ldap-keytab-obtain.service");
          assert.deepEqual(
            [
              unit.ActiveState,
              unit.Result,
              unit.ExecMainStatus,
              unit.NRestarts,
            ],
            ["failed", "exit-code", "78", "0"],
          );
        } finally {
          await system.run("mv", [
            "/etc/wgsync/good.toml",
            "/etc/wgsync/wgsync.toml",
          ]);
        }
      },
    );
  } finally {
    await system.shutdown();
    await Deno.remove(dist, { recursive: true });
    if (Deno.env.get("WGSYNC_KEEP_BOOT") !== "1") {
      await Deno.remove(system.work, { recursive: true }).catch(() => {});
    }
  }
});
