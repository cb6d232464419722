/**
 * The boot test: a real systemd as PID 1 in a sandbox (tests/helpers/boot.ts,
 * ENVIRONMENT.md's recipe), wgsync installed into it by `deno task install
 * --root` from the artifacts of `deno task compile`, its configuration
 * pointing at the local stack on the host's 127.0.0.1 (real KDC, slapd,
 * remctld, moto's KMS, DynamoDB, SNS and SQS). `wgsync.target` is started
 * and everything asserted is read from systemd itself: unit properties
 * (`systemctl show`), the journal (`journalctl -o json`), the processes and
 * files of the units — and, at the end of the pipeline, the demo remctl
 * backend's record of its calls.
 */
import assert from "node:assert/strict";
import { compileAll } from "../tasks/compile.ts";
import { BootedSystem } from "./helpers/boot.ts";
import { stageWgsync } from "./helpers/boot_stage.ts";
import { ldapUtil } from "./helpers/ldap_admin.ts";
import { getStack } from "./helpers/stack.ts";

const PROPERTIES = [
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
  "StatusText",
];

const ONESHOTS = [
  "wgsync-channel-key.service",
  "wgsync-ldap-keytab-obtain.service",
  "wgsync-remctl-keytab-obtain.service",
  "wgsync-ebs.service",
];
/** k5start units and notify services → the user each runs as. */
const RUNNING: Record<string, string> = {
  "wgsync-ldap-keytab.service": "wgsync-ldap",
  "wgsync-remctl-keytab.service": "wgsync-remctl",
  "wgsync-event.service": "wgsync-event",
  "wgsync-ldap.service": "wgsync-ldap",
  "wgsync-remctl.service": "wgsync-remctl",
  "wgsync-web.service": "wgsync-web",
};
/**
 * Notify services → a record each logs once its start-up work is done, before
 * it sends READY=1. Both go out as datagrams (the journal record first), and
 * systemd logs its own "Started" record on READY=1; the two are compared by
 * the kernel's timestamp on each datagram (`_SOURCE_REALTIME_TIMESTAMP`), not
 * by the journal's order, as journald may read the role's socket after PID
 * 1's later record (seen once in a CI run).
 */
const READY_EVIDENCE: Record<string, RegExp> = {
  "wgsync-event.service": /^Publishing to /,
  "wgsync-ldap.service": /^Workgroup refresh complete/,
  "wgsync-remctl.service": /queue .* answered/,
  "wgsync-web.service": /^Listening on /,
};
/** DESIGN.md's unit graph as start order: [unit, a unit active before it starts]. */
const ORDER: [string, string][] = [
  ["wgsync-event.service", "wgsync-channel-key.service"],
  ["wgsync-ldap.service", "wgsync-channel-key.service"],
  ["wgsync-ldap-keytab.service", "wgsync-ldap-keytab-obtain.service"],
  ["wgsync-ldap.service", "wgsync-event.service"],
  ["wgsync-ldap.service", "wgsync-ebs.service"],
  ["wgsync-ldap.service", "wgsync-ldap-keytab.service"],
  ["wgsync-remctl-keytab.service", "wgsync-remctl-keytab-obtain.service"],
  ["wgsync-remctl.service", "wgsync-remctl-keytab.service"],
];
/** systemd's "unit started" journal message. */
const STARTED_MESSAGE_ID = "39f53479d3a045ac8e11786248231fbf";

type JournalRecord = Record<string, unknown>;

Deno.test("boot: wgsync.target under a real systemd as PID 1", async (t) => {
  const stack = await getStack();
  const dist = await Deno.makeTempDir({ prefix: "wgsync-boot-dist-" });
  const built = await compileAll(dist, "");
  assert.equal(built.kind, "bundle");
  const system = await BootedSystem.boot({
    dist,
    stage: (dir) => stageWgsync(stack, dir),
  });
  const show = (unit: string) => system.show(unit, PROPERTIES);
  const uidOf = async (user: string) =>
    Number((await system.run("id", ["-u", user])).stdout.trim());
  const journal = (unit: string) => system.journal(["-u", unit]);
  try {
    await t.step(
      "wgsync.target starts every unit: oneshots active (exited), the others running",
      async () => {
        await system.systemctl("start", "wgsync.target");
        for (const unit of ONESHOTS) {
          const state = await show(unit);
          assert.deepEqual(
            [unit, state.Type, state.ActiveState, state.SubState, state.Result],
            [unit, "oneshot", "active", "exited", "success"],
          );
        }
        for (const unit of Object.keys(RUNNING)) {
          const state = await show(unit);
          assert.deepEqual(
            [unit, state.ActiveState, state.SubState, state.NRestarts],
            [unit, "active", "running", "0"],
          );
        }
      },
    );

    await t.step(
      "the start order is DESIGN.md's (from *TimestampMonotonic)",
      async () => {
        for (const [unit, before] of ORDER) {
          const later = await show(unit);
          const earlier = await show(before);
          assert.ok(
            Number(later.InactiveExitTimestampMonotonic) >=
              Number(earlier.ActiveEnterTimestampMonotonic),
            `${unit} began starting at ${later.InactiveExitTimestampMonotonic} µs, before ${before} was active at ${earlier.ActiveEnterTimestampMonotonic} µs`,
          );
        }
      },
    );

    await t.step(
      "each notify service became active only after its start-up work and READY=1",
      async () => {
        for (const [unit, evidence] of Object.entries(READY_EVIDENCE)) {
          const state = await show(unit);
          assert.equal(state.Type, "notify");
          assert.ok(
            Number(state.ActiveEnterTimestampMonotonic) >
              Number(state.ExecMainStartTimestampMonotonic),
          );
          const records = await journal(unit);
          const work = records.findIndex((record) =>
            evidence.test(String(record.MESSAGE))
          );
          const started = records.findIndex((record) =>
            record.MESSAGE_ID === STARTED_MESSAGE_ID
          );
          assert.ok(work >= 0, `${unit} logged nothing matching ${evidence}`);
          assert.ok(started >= 0, `systemd never logged ${unit} as started`);
          // By the time each record was sent (the kernel's timestamp on the
          // datagram), not by the journal's order: journald may read the
          // role's socket after PID 1's record that came in later.
          assert.ok(
            sentAt(records[work]) < sentAt(records[started]),
            `${unit}: systemd called it started (${
              sentAt(records[started])
            } µs) before "${records[work].MESSAGE}" (${
              sentAt(records[work])
            } µs)`,
          );
          // The status the role sent with READY=1 (STATUS=) is systemd's now.
          assert.notEqual(
            state.StatusText ?? "",
            "",
            `${unit} sent no STATUS=`,
          );
        }
      },
    );

    await t.step(
      "the keytabs are decrypted into /run: 0400, the service user's",
      async () => {
        for (const instance of ["ldap", "remctl"]) {
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
          const ccache = await system.stat(`/run/wgsync-${instance}/krb5cc`);
          assert.deepEqual([ccache.mode, ccache.user], [
            "600",
            `wgsync-${instance}`,
          ]);
        }
      },
    );

    await t.step(
      "the channel key is made per boot in /run: one key, a 0400 copy per service user, no key in the root's /etc",
      async () => {
        const copies = ["wgsync-ldap", "wgsync-event"].map((user) => ({
          user,
          path: `/run/wgsync-secrets/${user}.channel.key`,
        }));
        const keys: string[] = [];
        for (const { user, path } of copies) {
          const stat = await system.stat(path);
          assert.deepEqual([path, stat.mode, stat.user], [path, "400", user]);
          keys.push(new TextDecoder().decode(await system.read(path)));
        }
        assert.match(keys[0], /^[0-9a-f]{64}\n$/);
        assert.equal(keys[1], keys[0]);
        // Nothing at rest: outside the services' mount namespaces the
        // configured path holds no key. It is absent, or the empty file
        // systemd makes as the mount point of BindReadOnlyPaths= (it creates
        // a missing bind target before it makes the namespace read-only).
        const host = await system.run("stat", [
          "-c",
          "%s",
          "/etc/wgsync/channel.key",
        ]);
        assert.ok(
          host.code !== 0 || host.stdout.trim() === "0",
          `/etc/wgsync/channel.key in the root is ${host.stdout.trim()} bytes`,
        );
        for (const unit of ["wgsync-ldap.service", "wgsync-event.service"]) {
          const { MainPID } = await show(unit);
          const inside = `/proc/${MainPID}/root/etc/wgsync/channel.key`;
          assert.equal(
            new TextDecoder().decode(await system.read(inside)),
            keys[0],
            `${unit} does not see the key at /etc/wgsync/channel.key`,
          );
        }
        // Restarting the oneshot (both services require it, so they restart
        // too) keeps the key: it writes only when a copy is missing.
        await system.systemctl("restart", "wgsync-channel-key.service");
        for (const { path } of copies) {
          assert.equal(
            new TextDecoder().decode(await system.read(path)),
            keys[0],
          );
        }
        for (const unit of ["wgsync-event.service", "wgsync-ldap.service"]) {
          const active = await system.waitUntil(
            async () => (await show(unit)).SubState === "running",
            60_000,
          );
          assert.ok(active, `${unit} did not run again after the key unit`);
        }
      },
    );

    await t.step("every service runs as its own user", async () => {
      for (const [unit, user] of Object.entries(RUNNING)) {
        const { MainPID } = await show(unit);
        const status = await system.run("cat", [`/proc/${MainPID}/status`]);
        const uids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status.stdout);
        assert.deepEqual(
          [unit, Number(uids?.[1]), Number(uids?.[2])],
          [unit, await uidOf(user), await uidOf(user)],
        );
      }
    });

    await t.step(
      "each role's records are in the journal with WGSYNC_* fields",
      async () => {
        // By SYSLOG_IDENTIFIER: a oneshot may exit before journald reads its
        // last datagrams, and journald then cannot name their unit.
        const identifiers = [
          "wgsync-keytab-obtain",
          "wgsync-ebs",
          "wgsync-event",
          "wgsync-ldap",
          "wgsync-remctl",
          "wgsync-web",
        ];
        for (const identifier of identifiers) {
          const own = await system.journal(["-t", identifier]);
          const fields = new Set(
            own.flatMap((record) =>
              Object.keys(record).filter((key) => key.startsWith("WGSYNC_"))
            ),
          );
          assert.ok(
            fields.size > 0,
            `no WGSYNC_* field in the ${own.length} records of ${identifier}`,
          );
        }
        const obtained = (await system.journal(["-t", "wgsync-keytab-obtain"]))
          .find((record) => record.WGSYNC_INSTANCE === "ldap");
        assert.deepEqual(
          [obtained?.WGSYNC_KEYTAB, obtained?.WGSYNC_PRINCIPAL],
          ["/run/wgsync-ldap/keytab", stack.principals.ldapClient],
        );
      },
    );

    await t.step(
      "a membership change made in slapd reaches the demo remctl backend",
      async () => {
        const member = `uid=boot-check-${
          crypto.randomUUID().slice(0, 8)
        },${stack.ldap.peopleBase}`;
        const workgroup =
          `cn=research-computing:sherlock-users,${stack.ldap.workgroupBase}`;
        await ldapUtil(
          stack,
          "ldapmodify",
          `dn: ${workgroup}\nchangetype: modify\nadd: member\nmember: ${member}\n`,
        );
        const landed = await system.waitUntil(async () => {
          const calls = (await Deno.readTextFile(stack.remctl.callsFile))
            .split("\n").filter((line) => line !== "")
            .map((line) => JSON.parse(line) as { argv: string[] });
          return calls.some((call) =>
            call.argv.includes("member.added") && call.argv.includes(member)
          );
        }, 60_000);
        assert.ok(
          landed,
          `no member.added call for ${member} in ${stack.remctl.callsFile}`,
        );
      },
    );

    await t.step(
      "stopping a service's k5start unit stops the service (BindsTo)",
      async () => {
        for (const instance of ["ldap", "remctl"]) {
          await system.systemctl("stop", `wgsync-${instance}-keytab.service`);
          const service = await show(`wgsync-${instance}.service`);
          assert.deepEqual(
            [instance, service.ActiveState, service.SubState],
            [instance, "inactive", "dead"],
          );
        }
      },
    );

    await t.step(
      "a bad configuration fails a service once with 78: failed, no restart loop",
      async () => {
        // wgsync-web with a configuration holding an unknown key (a drop-in).
        await system.run("/bin/sh", [
          "-c",
          [
            "sed '1i unknown_key = 1' /etc/wgsync/wgsync.toml > /etc/wgsync/bad.toml",
            "mkdir -p /run/systemd/system/wgsync-web.service.d",
            "printf '[Service]\\nExecStart=\\nExecStart=/usr/lib/wgsync/bin/wgsync-web --config /etc/wgsync/bad.toml\\n' > /run/systemd/system/wgsync-web.service.d/bad.conf",
            "systemctl daemon-reload",
          ].join(" && "),
        ]);
        const restart = await system.run("systemctl", [
          "restart",
          "wgsync-web.service",
        ]);
        assert.notEqual(restart.code, 0);
        const failed = await show("wgsync-web.service");
        assert.deepEqual(
          [failed.ActiveState, failed.Result, failed.ExecMainStatus],
          ["failed", "exit-code", "78"],
        );
        // Past RestartSec=5: Restart=on-failure did not start it again.
        await new Promise((resolve) => setTimeout(resolve, 6_000));
        const later = await show("wgsync-web.service");
        assert.deepEqual([later.ActiveState, later.NRestarts], ["failed", "0"]);
        const records = await journal("wgsync-web.service");
        assert.ok(
          records.some((record) =>
            /key "unknown_key" is not a known setting/.test(
              String(record.MESSAGE),
            )
          ),
        );
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

/** When a journal record was sent: its source time, else its reception time. */
function sentAt(record: Record<string, unknown>): bigint {
  return BigInt(
    String(record._SOURCE_REALTIME_TIMESTAMP ?? record.__REALTIME_TIMESTAMP),
  );
}
