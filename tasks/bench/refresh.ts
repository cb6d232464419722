/**
 * `deno task bench`'s first-refresh section at one size: wgsync-ldap as a
 * process, spawn → READY=1 (tasks/bench_role.ts's `roleRefresh`, the
 * measurement `deno task bench:refresh` uses), in the `simple` set-up
 * (simple bind, no TLS) and the `operator` one (StartTLS + SASL GSSAPI,
 * people then workgroups), interleaved with its anchors in the same run:
 * ldapsearch `-E '!sync=ro'` as whole processes for each set-up, and
 * python-ldap's SyncreplConsumer writing the same entries into SQLite
 * (simple bind; tasks/bench/syncrepl_sqlite.py). For `operator`, also
 * ldapsearch with its default SASL layer (SSF 256 inside TLS): the anchor the
 * issue's goals were measured against. The role runs as systemd runs it (the
 * bundle `deno task compile` builds, with its launcher's flags) and from
 * source (`roles/ldap.ts`, as `deno task dev:ldap` runs it). The storage
 * floor (tasks/bench/store_floor.ts) is measured in each run too.
 *
 * @module
 */

import { roleRefresh, type RoleRun, type RoleSetup } from "../bench_role.ts";
import { anchorSearches, timeAnchor } from "../bench_role_compare.ts";
import { median } from "../bench_refresh/common.ts";
import { bundleRole } from "../compile.ts";
import { storeFloor } from "./store_floor.ts";
import { down, up } from "../stack/mod.ts";
import type { StackInfo } from "../stack/types.ts";

/** One size's figures (medians over the runs). */
export interface RefreshFigures {
  groups: number;
  members: number;
  runs: number;
  /** ldapsearch whole process doing the role's work, ms, per set-up. */
  ldapsearchMs: Record<RoleSetup, number>;
  /** ldapsearch with its default SASL layer inside TLS (operator), ms. */
  ldapsearchDefaultMs: number;
  /** Bare node:sqlite writing rows of the same shape (tasks/bench/store_floor.ts), ms. */
  storeFloorMs: number;
  /** python-ldap SyncreplConsumer → SQLite, whole process, ms; undefined when python-ldap is missing. */
  pythonMs?: number;
  pythonRssKiB?: number;
  /** The role per set-up, as systemd runs it (the bundle and its launcher's flags). */
  role: Record<RoleSetup, RoleRun>;
  /** The role per set-up from source (`roles/ldap.ts`). */
  source: Record<RoleSetup, RoleRun>;
}

const PYTHON = "/usr/bin/python3";
const SCRIPT = new URL("./syncrepl_sqlite.py", import.meta.url).pathname;

/** Whether python-ldap is importable by /usr/bin/python3. */
export async function pythonLdapVersion(): Promise<string | undefined> {
  try {
    const output = await new Deno.Command(PYTHON, {
      args: ["-c", "import ldap, ldap.syncrepl; print(ldap.__version__)"],
      stdout: "piped",
      stderr: "null",
    }).output();
    return output.success
      ? new TextDecoder().decode(output.stdout).trim()
      : undefined;
  } catch {
    return undefined;
  }
}

async function timePython(
  stack: StackInfo,
): Promise<{ ms: number; rssKiB: number; entries: number }> {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-bench-python-" });
  try {
    const started = performance.now();
    const output = await new Deno.Command(PYTHON, {
      args: [
        SCRIPT,
        stack.ldap.url,
        stack.ldap.adminDn,
        stack.ldap.adminPasswordFile,
        stack.ldap.workgroupBase,
        `${dir}/store.sqlite`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const ms = performance.now() - started;
    if (!output.success) {
      throw new Error(
        `python-ldap's SyncreplConsumer failed (exit ${output.code}): ${
          new TextDecoder().decode(output.stderr)
        }`,
      );
    }
    const result = JSON.parse(new TextDecoder().decode(output.stdout));
    return { ms, rssKiB: result.maxRssKiB, entries: result.entries };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Starts a stack of `groups` × `members`, measures, stops it. */
export async function measureRefresh(
  dir: string,
  options: {
    groups: number;
    members: number;
    runs: number;
    python: boolean;
    log: (line: string) => void;
  },
): Promise<RefreshFigures> {
  const { groups, members, runs, log } = options;
  const stack = await up(dir, {
    groups,
    members,
    people: Math.max(members, 1000),
    log: () => {},
  });
  const built = await Deno.makeTempDir({ prefix: "wgsync-bench-bundle-" });
  try {
    const bundle = `${built}/wgsync-ldap.js`;
    await bundleRole("ldap", bundle);
    const setups: RoleSetup[] = ["simple", "operator"];
    const searches = {
      simple: anchorSearches(stack, "simple"),
      operator: anchorSearches(stack, "operator", { maxSsf0: true }),
    };
    const defaultSearches = anchorSearches(stack, "operator");
    // Warm-up: slapd's caches, the service ticket, Deno's module and code
    // caches (of the source and of the bundle).
    await timeAnchor(searches.simple);
    await roleRefresh(stack, { setup: "simple" });
    await roleRefresh(stack, { setup: "simple", bundle });
    const anchors: Record<RoleSetup, number[]> = { simple: [], operator: [] };
    const defaults: number[] = [];
    const floors: number[] = [];
    const roles: Record<RoleSetup, RoleRun[]> = { simple: [], operator: [] };
    const sources: Record<RoleSetup, RoleRun[]> = { simple: [], operator: [] };
    const python: { ms: number; rssKiB: number }[] = [];
    const checked = async (setup: RoleSetup, from?: string) => {
      const role = await roleRefresh(stack, { setup, bundle: from });
      if (role.created !== groups) {
        throw new Error(
          `wgsync-ldap sent ${role.created} workgroup.created events, expected ${groups}`,
        );
      }
      return role;
    };
    for (let run = 0; run < runs; run++) {
      for (const setup of setups) {
        anchors[setup].push(await timeAnchor(searches[setup]));
        if (setup === "operator") {
          defaults.push(await timeAnchor(defaultSearches));
        }
        const role = await checked(setup, bundle);
        roles[setup].push(role);
        const source = await checked(setup);
        sources[setup].push(source);
        log(
          `bench: ${groups} × ${members} ${setup}: ldapsearch ${
            anchors[setup].at(-1)!.toFixed(0)
          } ms${
            setup === "operator"
              ? ` (default SASL layer ${defaults.at(-1)!.toFixed(0)} ms)`
              : ""
          }, wgsync-ldap READY=1 ${role.readyMs.toFixed(0)} ms (from source ${
            source.readyMs.toFixed(0)
          } ms)`,
        );
      }
      floors.push(await storeFloor(stack));
      if (options.python) {
        const result = await timePython(stack);
        if (result.entries !== groups) {
          throw new Error(
            `python-ldap's consumer stored ${result.entries} entries, expected ${groups}`,
          );
        }
        python.push(result);
        log(
          `bench: ${groups} × ${members} python-ldap ${
            result.ms.toFixed(0)
          } ms`,
        );
      }
    }
    const pick = (of: RoleRun[]): RoleRun => {
      const sorted = [...of].sort((a, b) => a.readyMs - b.readyMs);
      return sorted[Math.floor(sorted.length / 2)];
    };
    return {
      groups,
      members,
      runs,
      ldapsearchMs: {
        simple: median(anchors.simple),
        operator: median(anchors.operator),
      },
      ldapsearchDefaultMs: median(defaults),
      storeFloorMs: median(floors),
      pythonMs: python.length ? median(python.map((p) => p.ms)) : undefined,
      pythonRssKiB: python.length
        ? median(python.map((p) => p.rssKiB))
        : undefined,
      role: { simple: pick(roles.simple), operator: pick(roles.operator) },
      source: {
        simple: pick(sources.simple),
        operator: pick(sources.operator),
      },
    };
  } finally {
    await Deno.remove(built, { recursive: true });
    await down(dir);
  }
}
