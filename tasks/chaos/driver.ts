/**
 * The chaos driver: random membership changes made with ldap-utils
 * (`ldapmodify -c`) as the stack's admin — member adds and removes, workgroup
 * creations, deletions, renames, moves out of the workgroup base (into
 * `ou=attic`) and back, a few bulk modifies of thousands of members, and
 * non-ASCII and hostile names (quotes, backslashes, DN specials, shell
 * metacharacters, leading dashes, control characters that make a name
 * invalid).
 *
 * The driver keeps its own picture of the directory to choose changes that
 * should succeed; a change the server refuses (or a batch cut by a stopped
 * slapd) makes it re-read the directory. Only changes the server accepted
 * are counted. The directory's final state, not this picture, is what the
 * checker compares with.
 *
 * @module
 */

import { adminArgs } from "../stack/ldap_admin.ts";
import type { StackInfo } from "../stack/types.ts";
import { parseLdif } from "./check.ts";
import { escapeRdnValue, line, record } from "./ldif.ts";

/** A random number source in [0, 1). */
export type Random = () => number;

/** A seeded generator (mulberry32), so a run can be repeated. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The stems the demo targets subscribe to, and one no target receives. */
export const CHAOS_STEMS = ["uit", "research-computing", "law"];

/** Name parts a downstream must carry unchanged. */
const HOSTILE = [
  "équipe-recherche-研究",
  'say "hello"',
  "back\\slash",
  "semi;colon",
  "comma,name",
  "plus+equals=",
  "<angle>",
  "#hash",
  "-n",
  "--help",
  "$(reboot)",
  "`id`",
  "dino-🦕",
  "trailing space ",
  "colon:inside",
  "ßtraße-Ölmühle",
];
/** Names that are not of the form stem:name: the consumer must skip them. */
const INVALID = ["no-colon-here", "uit:bad\tname", ":empty-stem"];

interface Group {
  dn: string;
  name: string;
  /** member key → DN as written. */
  members: Map<string, string>;
  inBase: boolean;
}

/** Options of {@linkcode ChaosDriver}. */
export interface DriverOptions {
  random: Random;
  /** Each batch runs through it (closed while slapd is stopped). */
  gate?: { through<T>(work: () => Promise<T>): Promise<T> };
  /** Members per bulk modify. @default {2000} */
  bulkMembers?: number;
  /** Rename workgroups (false: a member addition instead), to tell rename-order defects from the rest. @default {true} */
  renames?: boolean;
}

/** What the driver did. */
export interface DriverReport {
  /** Changes the server accepted. */
  changes: number;
  /** Changes the server refused (the driver's picture was stale) or a stopped slapd cut. */
  refused: number;
  /** Accepted changes by kind. */
  kinds: Record<string, number>;
  /** Batches retried because slapd could not be reached. */
  retriedBatches: number;
}

const key = (dn: string) => dn.replace(/\s*([,=+])\s*/g, "$1").toLowerCase();

/** Makes random changes in the stack's directory. */
export class ChaosDriver {
  #info: StackInfo;
  #options: DriverOptions;
  #random: Random;
  #groups = new Map<string, Group>();
  #people: string[] = [];
  #attic: string;
  #counter = 0;
  #report: DriverReport = {
    changes: 0,
    refused: 0,
    kinds: {},
    retriedBatches: 0,
  };

  /** Drives the directory of `info`. */
  constructor(info: StackInfo, options: DriverOptions) {
    this.#info = info;
    this.#options = options;
    this.#random = options.random;
    this.#attic = `ou=attic,${info.ldap.suffix}`;
  }

  /** Counts so far. */
  get report(): DriverReport {
    return structuredClone(this.#report);
  }

  /** Creates `ou=attic` and a few people with hostile DNs; reads the directory. */
  async prepare(): Promise<void> {
    const people = this.#info.ldap.peopleBase;
    const records = [
      record(this.#attic, "add", [
        "objectClass: organizationalUnit",
        "ou: attic",
      ]),
    ];
    for (
      const [i, uid] of ["o'brien, jr.", "zoë+ünï", 'q"uote', "#1 fan", "<b>"]
        .entries()
    ) {
      records.push(
        record(`uid=${escapeRdnValue(uid)},${people}`, "add", [
          "objectClass: inetOrgPerson",
          line("uid", uid),
          line("cn", `Hostile ${uid}`),
          line("sn", "Hostile"),
          line("employeeNumber", String(900000 + i)),
        ]),
      );
    }
    await this.#run(records);
    await this.#resync();
  }

  /** Makes `count` accepted-or-refused changes, pausing up to `pauseMs` between batches. */
  async run(
    count: number,
    options: { bulk: number; pauseMs: number; signal?: AbortSignal },
  ): Promise<DriverReport> {
    const bulkAt = new Set(
      Array.from(
        { length: options.bulk },
        (_, i) => Math.floor(((i + 0.5) * count) / options.bulk),
      ),
    );
    let made = 0;
    while (made < count && !options.signal?.aborted) {
      const batch: { kind: string; text: string }[] = [];
      const size = 1 + Math.floor(this.#random() * 12);
      while (batch.length < size && made < count) {
        const change = bulkAt.has(made) ? this.#bulk() : this.#change();
        made++;
        if (change !== undefined) batch.push(change);
      }
      await this.#run(batch.map((c) => c.text), batch.map((c) => c.kind));
      if (options.pauseMs > 0) {
        await new Promise((r) =>
          setTimeout(r, this.#random() * options.pauseMs)
        );
      }
    }
    return this.report;
  }

  #pick<T>(items: T[]): T | undefined {
    return items.length === 0
      ? undefined
      : items[Math.floor(this.#random() * items.length)];
  }

  #newName(): string {
    const r = this.#random();
    this.#counter++;
    if (r < 0.04) return this.#pick(INVALID)! + `-${this.#counter}`;
    const stem = this.#pick(CHAOS_STEMS)!;
    const part = r < 0.35 ? this.#pick(HOSTILE)! : "chaos";
    // The counter keeps names distinct; a hostile part may end the name.
    return r < 0.2
      ? `${stem}:${this.#counter}-${part}`
      : `${stem}:${part}-${this.#counter}`;
  }

  #change(): { kind: string; text: string } | undefined {
    const r = this.#random();
    const inBase = [...this.#groups.values()].filter((g) => g.inBase);
    const attic = [...this.#groups.values()].filter((g) => !g.inBase);
    if (r < 0.06 || inBase.length < 10) return this.#create();
    if (r < 0.09) return this.#delete(this.#pick(inBase)!);
    if (r < 0.15) {
      return this.#options.renames === false
        ? this.#modify(this.#pick(inBase)!, 1, 0)
        : this.#rename(this.#pick(inBase)!);
    }
    if (r < 0.18) return this.#move(this.#pick(inBase)!, false);
    if (r < 0.21 && attic.length > 0) {
      return this.#move(this.#pick(attic)!, true);
    }
    const group = this.#pick(r < 0.23 && attic.length > 0 ? attic : inBase)!;
    if (r < 0.33) {
      return this.#modify(
        group,
        1 + Math.floor(this.#random() * 4),
        1 + Math.floor(this.#random() * 3),
      );
    }
    if (r < 0.68) return this.#modify(group, 1, 0);
    return this.#modify(group, 0, 1);
  }

  #freshMembers(group: Group | undefined, count: number): string[] {
    const chosen = new Map<string, string>();
    for (
      let tries = 0;
      chosen.size < count && tries < count * 4 + 20;
      tries++
    ) {
      const dn = this.#pick(this.#people)!;
      const k = key(dn);
      if (!group?.members.has(k)) chosen.set(k, dn);
    }
    return [...chosen.values()];
  }

  #create(): { kind: string; text: string } {
    const name = this.#newName();
    const dn = `cn=${escapeRdnValue(name)},${this.#info.ldap.workgroupBase}`;
    const members = this.#freshMembers(
      undefined,
      1 + Math.floor(this.#random() * 30),
    );
    this.#groups.set(key(dn), {
      dn,
      name,
      members: new Map(members.map((m) => [key(m), m])),
      inBase: true,
    });
    return {
      kind: "create",
      text: record(dn, "add", [
        "objectClass: groupOfNames",
        line("cn", name),
        ...members.map((m) => line("member", m)),
      ]),
    };
  }

  #delete(group: Group): { kind: string; text: string } {
    this.#groups.delete(key(group.dn));
    return { kind: "delete", text: record(group.dn, "delete", []) };
  }

  #rename(group: Group): { kind: string; text: string } {
    const old = group.dn;
    const name = this.#newName();
    const rdn = `cn=${escapeRdnValue(name)}`;
    this.#groups.delete(key(old));
    group.dn = `${rdn},${old.slice(rdnOf(old).length + 1)}`;
    group.name = name;
    this.#groups.set(key(group.dn), group);
    return {
      kind: "rename",
      text: record(old, "modrdn", [line("newrdn", rdn), "deleteoldrdn: 1"]),
    };
  }

  #move(group: Group, back: boolean): { kind: string; text: string } {
    const old = group.dn;
    const rdn = rdnOf(old);
    const parent = back ? this.#info.ldap.workgroupBase : this.#attic;
    this.#groups.delete(key(old));
    group.dn = `${rdn},${parent}`;
    group.inBase = back;
    this.#groups.set(key(group.dn), group);
    return {
      kind: back ? "move-back" : "move-out",
      text: record(old, "modrdn", [
        line("newrdn", rdn),
        "deleteoldrdn: 0",
        line("newsuperior", parent),
      ]),
    };
  }

  #modify(
    group: Group,
    adds: number,
    removes: number,
  ): { kind: string; text: string } | undefined {
    const added = this.#freshMembers(group, adds);
    const current = [...group.members.values()];
    const removed: string[] = [];
    // groupOfNames needs at least one member.
    while (
      removed.length < removes &&
      current.length - removed.length + added.length > 1
    ) {
      const dn =
        current.splice(Math.floor(this.#random() * current.length), 1)[0];
      if (dn === undefined) break;
      removed.push(dn);
    }
    if (added.length === 0 && removed.length === 0) return undefined;
    for (const dn of removed) group.members.delete(key(dn));
    for (const dn of added) group.members.set(key(dn), dn);
    const body: string[] = [];
    if (removed.length > 0) {
      body.push(
        "delete: member",
        ...removed.map((m) => line("member", m)),
        "-",
      );
    }
    if (added.length > 0) {
      body.push("add: member", ...added.map((m) => line("member", m)), "-");
    }
    return {
      kind: adds > 0 && removes > 0
        ? "modify-mixed"
        : adds > 0
        ? "member-add"
        : "member-remove",
      text: record(group.dn, "modify", body),
    };
  }

  /** Replaces a workgroup's members with thousands of others in one modify. */
  #bulk(): { kind: string; text: string } {
    const group = this.#pick(
      [...this.#groups.values()].filter((g) => g.inBase),
    )!;
    const members = this.#freshMembers(
      undefined,
      this.#options.bulkMembers ?? 2000,
    );
    group.members = new Map(members.map((m) => [key(m), m]));
    return {
      kind: "bulk-replace",
      text: record(group.dn, "modify", [
        "replace: member",
        ...members.map((m) => line("member", m)),
        "-",
      ]),
    };
  }

  /**
   * Runs records through `ldapmodify -c`; counts accepted and refused ones.
   * When slapd cannot be reached the batch is run again once the gate opens
   * (records applied before the cut are then refused as existing, and not
   * counted twice); any refusal makes the driver re-read the directory.
   */
  async #run(records: string[], kinds: string[] = []): Promise<void> {
    if (records.length === 0) return;
    for (;;) {
      const output = await this.#through(() => this.#ldapmodify(records));
      const stdout = new TextDecoder().decode(output.stdout);
      const stderr = new TextDecoder().decode(output.stderr);
      // ldapmodify prints one line per record it sent, then the error of a
      // refused one on stderr.
      const sent = stdout.match(
        /^(adding new|modifying|deleting|modifying rdn of) entry /gm,
      )?.length ?? 0;
      // Each record sent either succeeded or has an error line with the
      // result code; a negative code is the client's (slapd unreachable).
      const codes = [...stderr.matchAll(/^ldap_\w+: .*\((-?\d+)\)\s*$/gm)]
        .map((m) => Number(m[1]));
      const refused = codes.filter((code) => code > 0).length;
      const cut = codes.length - refused;
      if (cut > 0 || (!output.success && codes.length === 0)) {
        // Run the whole batch again once slapd is back: what was applied
        // before the cut is then refused as existing and not counted twice.
        this.#report.retriedBatches++;
        this.#report.changes += Math.max(0, sent - codes.length);
        this.#report.refused += refused;
        await new Promise((r) => setTimeout(r, 500));
        await this.#resyncWhenUp();
        continue;
      }
      this.#report.changes += sent - refused;
      this.#report.refused += refused;
      for (const kind of kinds.slice(0, sent)) {
        this.#report.kinds[kind] = (this.#report.kinds[kind] ?? 0) + 1;
      }
      if (refused > 0 || !output.success) await this.#resyncWhenUp();
      return;
    }
  }

  #through<T>(work: () => Promise<T>): Promise<T> {
    return this.#options.gate?.through(work) ?? work();
  }

  async #ldapmodify(records: string[]): Promise<Deno.CommandOutput> {
    const child = new Deno.Command("ldapmodify", {
      args: [...adminArgs(this.#info), "-c"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(120_000),
    }).spawn();
    const pending = child.output();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(records.join(""))).catch(
      () => {},
    );
    await writer.close().catch(() => {});
    return await pending;
  }

  async #resyncWhenUp(): Promise<void> {
    for (;;) {
      try {
        return await this.#through(() => this.#resync());
      } catch {
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** Re-reads the workgroups (base and attic) and people from the directory. */
  async #resync(): Promise<void> {
    const search = async (base: string, filter: string, attrs: string[]) => {
      const output = await new Deno.Command("ldapsearch", {
        args: [
          ...adminArgs(this.#info),
          "-LLL",
          "-o",
          "ldif-wrap=no",
          "-b",
          base,
          filter,
          ...attrs,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!output.success && output.code !== 32) {
        throw new Error(
          `ldapsearch -b ${base} failed (exit ${output.code}): ${
            new TextDecoder().decode(output.stderr)
          }`,
        );
      }
      return parseLdif(new TextDecoder().decode(output.stdout));
    };
    const people = await search(
      this.#info.ldap.peopleBase,
      "(objectClass=inetOrgPerson)",
      ["1.1"],
    );
    this.#people = people.map((e) => e.dn);
    this.#groups.clear();
    for (const parent of [this.#info.ldap.workgroupBase, this.#attic]) {
      for (
        const entry of await search(parent, "(objectClass=groupOfNames)", [
          "cn",
          "member",
        ])
      ) {
        const members = entry.attributes.get("member") ?? [];
        this.#groups.set(key(entry.dn), {
          dn: entry.dn,
          name: entry.attributes.get("cn")?.[0] ?? "",
          members: new Map(members.map((m) => [key(m), m])),
          inBase: parent !== this.#attic,
        });
      }
    }
  }
}

/** The first RDN of a DN (up to the first unescaped comma). */
function rdnOf(dn: string): string {
  for (let i = 0; i < dn.length; i++) {
    if (dn[i] === "\\") i++;
    else if (dn[i] === ",") return dn.slice(0, i);
  }
  return dn;
}
