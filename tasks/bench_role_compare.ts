/**
 * The comparison `deno task bench:refresh` prints for the role: interleaved
 * runs of wgsync-ldap's first refresh (spawn → READY=1, see
 * `bench_role.ts`) — as systemd runs it and from source — and of ldapsearch
 * as whole processes doing the same searches, with medians, ratios, the
 * role's CPU time, peak RSS and store size.
 *
 * Alone: `deno run -A tasks/bench_role_compare.ts STACK_DIR [operator|simple]
 * [RUNS] [CPU_PROFILE_DIR]` (with a directory: one run with `--cpu-prof`,
 * its figures as JSON; summarise the profile with `tasks/cpu_profile.ts`).
 *
 * @module
 */

import { roleRefresh, type RoleRun, type RoleSetup } from "./bench_role.ts";
import type { StackInfo } from "./stack/types.ts";
import { median } from "./bench_refresh/common.ts";
import { bundleRole } from "./compile.ts";
import { storeFloor } from "./bench/store_floor.ts";

/** The ldapsearch arguments and environment of the anchor for `setup`. */
export function anchorSearches(
  stack: StackInfo,
  setup: RoleSetup,
  options: { maxSsf0?: boolean } = {},
): { args: string[]; env: Record<string, string> }[] {
  const sync = ["-s", "one", "-E", "!sync=ro"];
  const workgroups = [
    "-b",
    stack.ldap.workgroupBase,
    ...sync,
    "(objectClass=groupOfNames)",
    "cn",
    "member",
    "entryCSN",
  ];
  if (setup === "simple") {
    return [{
      args: [
        "-x",
        "-H",
        stack.ldap.url,
        "-D",
        stack.ldap.adminDn,
        "-y",
        stack.ldap.adminPasswordFile,
        ...workgroups,
      ],
      env: {},
    }];
  }
  const auth = [
    "-ZZ",
    "-Y",
    "GSSAPI",
    "-N",
    "-Q",
    ...(options.maxSsf0 ? ["-O", "maxssf=0"] : []),
    "-H",
    stack.ldap.gssapiUrl,
  ];
  const env = {
    KRB5_CONFIG: stack.krb5Config,
    KRB5CCNAME: `FILE:${stack.ccaches.ldapClient}`,
    LDAPTLS_CACERT: stack.ldap.caFile,
    // ldap-utils checks the certificate against the reverse name of
    // 127.0.0.1 (not "localhost"); the TLS work is the same.
    LDAPTLS_REQCERT: "allow",
  };
  const people = [
    "-b",
    stack.ldap.peopleBase,
    ...sync,
    "(objectClass=inetOrgPerson)",
    "uid",
    "employeeNumber",
  ];
  return [{ args: [...auth, ...people], env }, {
    args: [...auth, ...workgroups],
    env,
  }];
}

/** Times the anchor searches one after the other, each a whole ldapsearch process writing to /dev/null. */
export async function timeAnchor(
  searches: { args: string[]; env: Record<string, string> }[],
): Promise<number> {
  const started = performance.now();
  for (const search of searches) {
    const status = await new Deno.Command("ldapsearch", {
      args: search.args,
      env: search.env,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!status.success) {
      throw new Error(
        `ldapsearch ${search.args.join(" ")} failed: ${
          new TextDecoder().decode(status.stderr)
        }`,
      );
    }
  }
  return performance.now() - started;
}

/** Options of {@linkcode compareRole}. */
export interface CompareRoleOptions {
  setup: RoleSetup;
  /** Interleaved runs. @default {3} */
  runs?: number;
  /** Goal printed beside the ratio. */
  goal?: number;
}

/**
 * The role's first refresh beside ldapsearch, interleaved: as systemd runs
 * it (the bundle `deno task compile` builds, with its launcher's flags) and
 * from source; prints medians, ratios, RSS and store size (the details are
 * the bundle's) and returns the bundle's runs.
 */
export async function compareRole(
  stack: StackInfo,
  options: CompareRoleOptions,
): Promise<RoleRun[]> {
  const { setup } = options;
  const runs = options.runs ?? 3;
  const fair = anchorSearches(stack, setup, { maxSsf0: true });
  const full = anchorSearches(stack, setup);
  const built = await Deno.makeTempDir({ prefix: "wgsync-bench-bundle-" });
  const bundle = `${built}/wgsync-ldap.js`;
  const anchors: number[] = [];
  const defaults: number[] = [];
  const ours: RoleRun[] = [];
  const sources: RoleRun[] = [];
  const floors: number[] = [];
  try {
    await bundleRole("ldap", bundle);
    const checked = async (from?: string) => {
      const run = await roleRefresh(stack, { setup, bundle: from });
      if (run.created !== stack.data.workgroups) {
        throw new Error(
          `the role sent ${run.created} workgroup.created events, expected ${stack.data.workgroups}`,
        );
      }
      return run;
    };
    // Warm-up: slapd's caches, the KDC's service ticket, Deno's module and
    // code caches (of the source and of the bundle).
    await timeAnchor(fair);
    await checked();
    await checked(bundle);
    for (let i = 0; i < runs; i++) {
      anchors.push(await timeAnchor(fair));
      if (setup === "operator") defaults.push(await timeAnchor(full));
      ours.push(await checked(bundle));
      sources.push(await checked());
      floors.push(await storeFloor(stack));
    }
  } finally {
    await Deno.remove(built, { recursive: true });
  }
  const a = median(anchors);
  const m = (pick: (run: RoleRun) => number) => median(ours.map(pick));
  const ready = m((run) => run.readyMs);
  const groups = stack.data.workgroups;
  const size = `${groups} workgroups × ${stack.data.memberValues / groups}`;
  const ms = (value: number) => `${value.toFixed(0)} ms`;
  const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
  console.log(
    `\nwgsync-ldap first refresh as a process (${setup}: ${
      setup === "operator"
        ? "StartTLS + SASL GSSAPI, people then workgroups"
        : "simple bind, no TLS, workgroups only"
    }; channel to an acknowledging ChannelServer), ${size}, ${runs} interleaved runs`,
  );
  console.log(
    `  ldapsearch -E '!sync=ro' ${
      setup === "operator"
        ? "-ZZ -Y GSSAPI -O maxssf=0, people + workgroups"
        : "-x"
    } > /dev/null  median ${ms(a)}`,
  );
  if (setup === "operator") {
    console.log(
      `  ldapsearch as above with its default SASL layer (SSF 256 inside TLS)  median ${
        ms(median(defaults))
      }`,
    );
  }
  const line = (what: string, runs: RoleRun[]) => {
    const value = median(runs.map((run) => run.readyMs));
    console.log(
      `  wgsync-ldap spawn → READY=1 ${what}  median ${ms(value)}  ratio ${
        (value / a).toFixed(2)
      }${options.goal ? ` (goal <= ${options.goal})` : ""}${
        setup === "operator"
          ? `; against ldapsearch's default ${
            (value / median(defaults)).toFixed(2)
          }`
          : ""
      }  [runs: ldapsearch ${
        anchors.map((v) => v.toFixed(0)).join(" ")
      } | role ${runs.map((run) => run.readyMs.toFixed(0)).join(" ")}]`,
    );
  };
  line("as systemd runs it (deno task compile's bundle)", ours);
  line("from source (roles/ldap.ts, as deno task dev:ldap)", sources);
  const floor = median(floors);
  console.log(
    `  storage floor: bare node:sqlite writing rows of the same shape into the store's schema (tasks/bench/store_floor.ts)  median ${
      ms(floor)
    } = ${(floor / a).toFixed(2)} × ldapsearch  [runs: ${
      floors.map((v) => v.toFixed(0)).join(" ")
    }]`,
  );
  console.log(
    `  spawn → first log line ${ms(m((run) => run.firstLogMs))}${
      setup === "operator"
        ? `, → people refresh done ${ms(m((run) => run.peopleMs ?? 0))}`
        : ""
    }, → workgroup refresh done ${
      ms(m((run) => run.workgroupsMs))
    }, → READY=1 ${ms(ready)}, → last workgroup.created acknowledged ${
      ms(m((run) => run.drainedMs))
    }; CPU time of the role at READY=1 ${
      ms(m((run) => run.cpuReadyMs))
    }, at the last acknowledgement ${ms(m((run) => run.cpuDrainedMs))}`,
  );
  console.log(
    `  peak RSS (VmHWM) at READY=1 ${
      mib(m((run) => run.hwmReadyKiB))
    }, after the drain ${
      mib(m((run) => run.hwmKiB))
    } (goal < 200 MB at 100,000 workgroups); store after stop ${
      mib(m((run) => run.storeBytes) / 1024)
    }`,
  );
  return ours;
}

if (import.meta.main) {
  const { readStackInfo } = await import("./stack/mod.ts");
  const [dir, setup = "operator", runs = "3", cpuProfDir] = Deno.args;
  const stack = await readStackInfo(dir);
  if (cpuProfDir !== undefined) {
    const run = await roleRefresh(stack, {
      setup: setup as RoleSetup,
      cpuProfDir,
    });
    console.log(JSON.stringify(run));
  } else {
    await compareRole(stack, { setup: setup as RoleSetup, runs: Number(runs) });
  }
}
