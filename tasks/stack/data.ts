/**
 * The directory's contents as LDIF, generated lazily (streamed to slapadd):
 * the sample data set, or a large generated one for benchmarks.
 *
 * Sample data: 3,000 people, 20 workgroups over 5 stems; the largest
 * (`research-computing:sherlock-users`) holds every person, one carries a
 * non-ASCII description, some people have non-ASCII names.
 *
 * @module
 */

import { StackError } from "./errors.ts";
import type { DataOptions, StackData } from "./types.ts";

/** The directory suffix. */
export const SUFFIX = "dc=example,dc=edu";
/** Where people live. */
export const PEOPLE_BASE = `ou=people,${SUFFIX}`;
/** Where workgroups live. */
export const WORKGROUP_BASE = `ou=workgroups,${SUFFIX}`;
/** Where service entries live. */
export const SERVICES_BASE = `ou=services,${SUFFIX}`;
/** The entry the consumer principal `service/wgsync-ldap` is mapped to. */
export const CONSUMER_DN = `cn=wgsync-ldap,${SERVICES_BASE}`;
/** The rootdn, bound with a password (simple bind). */
export const ADMIN_DN = `cn=admin,${SUFFIX}`;

const SAMPLE_PEOPLE = 3000;
const SAMPLE_STEMS = [
  "research-computing",
  "uit",
  "med-school",
  "law",
  "athletics",
];
/** [name, members (0 = every person), description]. */
const SAMPLE_WORKGROUPS: [string, number, string][] = [
  ["research-computing:sherlock-users", 0, "Everyone allowed on Sherlock"],
  ["research-computing:oak-storage", 25, "Oak storage owners"],
  ["research-computing:farmshare", 40, "FarmShare users"],
  ["research-computing:gpu-early-access", 8, "GPU early access"],
  ["research-computing:admins", 3, "Research computing administrators"],
  ["uit:helpdesk", 12, "Help desk staff"],
  ["uit:network-ops", 9, "Network operations"],
  ["uit:identity", 6, "Identity and access management"],
  ["uit:security", 7, "Information security"],
  ["uit:all-staff", 150, "All UIT staff"],
  ["uit:contractors", 2, "Contractors"],
  ["med-school:faculty", 60, "Faculty"],
  ["med-school:residents", 45, "Residents"],
  ["med-school:equipe-recherche", 14, "Équipe de recherche — 研究"],
  ["med-school:it", 4, "Medical school IT"],
  ["law:faculty", 30, "Law faculty"],
  ["law:clinic", 15, "Legal clinic"],
  ["athletics:coaches", 20, "Coaches"],
  ["athletics:trainers", 10, "Trainers"],
  ["athletics:staff", 50, "Athletics staff"],
];
const GIVEN_NAMES = [
  "Ada",
  "Bjørn",
  "Chloé",
  "Dmitri",
  "Elif",
  "François",
  "Grace",
  "Hiroshi",
  "Inés",
  "José",
  "Kwame",
  "Lena",
  "Mei",
  "Noor",
  "Oskar",
  "Priya",
];
const FAMILY_NAMES = [
  "Lovelace",
  "Núñez",
  "Okafor",
  "Sørensen",
  "Tanaka",
  "Müller",
  "Hopper",
  "Çelik",
  "Smith",
  "Zhang",
  "Kowalski",
  "Haddad",
  "Ivanova",
  "Ramírez",
];
const GENERATED_STEMS = 50;
const CHUNK_CHARS = 256 * 1024;

/** Validated sizes and the summary of what will be generated. */
export interface DataPlan {
  summary: StackData;
  /** LDIF text in chunks of about 256 KiB. */
  chunks: () => Generator<string>;
}

/** Validates the generator options and plans the LDIF (sample data when none is given). */
export function planData(options: DataOptions = {}): DataPlan {
  const generated = options.groups !== undefined ||
    options.members !== undefined || options.people !== undefined;
  if (!generated) return planSample();
  const groups = checkCount("--groups", options.groups ?? 1000, 1);
  const members = checkCount("--members", options.members ?? 20, 1);
  const people = checkCount(
    "--people",
    options.people ?? Math.max(members, 1000),
    1,
  );
  if (members > people) {
    throw new StackError(
      `Cannot generate workgroups of ${members} members from ${people} people: --members must not exceed --people`,
    );
  }
  const stems = Array.from(
    { length: Math.min(GENERATED_STEMS, groups) },
    (_, i) => `stem-${String(i).padStart(2, "0")}`,
  );
  const groupName = (g: number) =>
    `${stems[g % stems.length]}:group-${String(g).padStart(6, "0")}`;
  return {
    summary: {
      kind: "generated",
      people,
      workgroups: groups,
      memberValues: groups * members,
      stems,
      largestWorkgroup: groupName(0),
      largestWorkgroupMembers: members,
    },
    chunks: () =>
      chunked(function* () {
        yield* baseEntries();
        for (let p = 0; p < people; p++) yield person(p);
        for (let g = 0; g < groups; g++) {
          yield workgroup(
            groupName(g),
            memberIndexes(g, members, people),
            `Generated workgroup ${g}`,
          );
        }
      }),
  };
}

function planSample(): DataPlan {
  const sizes = SAMPLE_WORKGROUPS.map(([, n]) => n === 0 ? SAMPLE_PEOPLE : n);
  return {
    summary: {
      kind: "sample",
      people: SAMPLE_PEOPLE,
      workgroups: SAMPLE_WORKGROUPS.length,
      memberValues: sizes.reduce((a, b) => a + b, 0),
      stems: [...SAMPLE_STEMS],
      largestWorkgroup: SAMPLE_WORKGROUPS[0][0],
      largestWorkgroupMembers: SAMPLE_PEOPLE,
      nonAsciiWorkgroup: "med-school:equipe-recherche",
    },
    chunks: () =>
      chunked(function* () {
        yield* baseEntries();
        for (let p = 0; p < SAMPLE_PEOPLE; p++) yield person(p);
        for (const [g, [name, , description]] of SAMPLE_WORKGROUPS.entries()) {
          yield workgroup(
            name,
            memberIndexes(g, sizes[g], SAMPLE_PEOPLE),
            description,
          );
        }
      }),
  };
}

function checkCount(option: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new StackError(
      `Cannot generate data as ${option} is ${value}: expected an integer of at least ${min}`,
    );
  }
  return value;
}

/** Consecutive people from a per-group offset, so members are distinct when count <= people. */
function memberIndexes(group: number, count: number, people: number): number[] {
  const start = (group * 101) % people;
  return Array.from({ length: count }, (_, k) => (start + k) % people);
}

/** The uid of person number `index`. */
export function uidOf(index: number): string {
  return `u${String(index).padStart(6, "0")}`;
}

function* baseEntries(): Generator<string> {
  yield entry(SUFFIX, [
    ["objectClass", "dcObject"],
    ["objectClass", "organization"],
    ["dc", "example"],
    ["o", "Example University"],
  ]);
  for (
    const [base, ou] of [
      [PEOPLE_BASE, "people"],
      [WORKGROUP_BASE, "workgroups"],
      [SERVICES_BASE, "services"],
    ]
  ) {
    yield entry(base, [["objectClass", "organizationalUnit"], ["ou", ou]]);
  }
  yield entry(CONSUMER_DN, [
    ["objectClass", "applicationProcess"],
    ["cn", "wgsync-ldap"],
    ["description", "wgsync LDAP consumer (service/wgsync-ldap)"],
  ]);
}

function person(index: number): string {
  const uid = uidOf(index);
  const given = GIVEN_NAMES[index % GIVEN_NAMES.length];
  const family =
    FAMILY_NAMES[Math.floor(index / GIVEN_NAMES.length) % FAMILY_NAMES.length];
  return entry(`uid=${uid},${PEOPLE_BASE}`, [
    ["objectClass", "inetOrgPerson"],
    ["uid", uid],
    ["cn", `${given} ${family}`],
    ["givenName", given],
    ["sn", family],
    ["employeeNumber", String(100000 + index)],
    ["mail", `${uid}@example.edu`],
  ]);
}

function workgroup(
  name: string,
  members: number[],
  description: string,
): string {
  return entry(`cn=${name},${WORKGROUP_BASE}`, [
    ["objectClass", "groupOfNames"],
    ["cn", name],
    ["description", description],
    ...members.map((
      m,
    ): [string, string] => ["member", `uid=${uidOf(m)},${PEOPLE_BASE}`]),
  ]);
}

/** One LDIF record; values that are not safe LDIF strings are base64-encoded. */
function entry(dn: string, attributes: [string, string][]): string {
  const lines = [line("dn", dn)];
  for (const [name, value] of attributes) lines.push(line(name, value));
  return lines.join("\n") + "\n\n";
}

/** Printable ASCII not starting with space, ":" or "<" (RFC 2849 SAFE-STRING, narrowed). */
const SAFE = /^[\x21-\x39\x3b\x3d-\x7e][\x20-\x7e]*$/;

function line(name: string, value: string): string {
  if (value === "" || (SAFE.test(value) && !value.endsWith(" "))) {
    return `${name}: ${value}`;
  }
  const bytes = new TextEncoder().encode(value);
  return `${name}:: ${btoa(String.fromCharCode(...bytes))}`;
}

function* chunked(records: () => Generator<string>): Generator<string> {
  let buffer: string[] = [];
  let size = 0;
  for (const record of records()) {
    buffer.push(record);
    size += record.length;
    if (size >= CHUNK_CHARS) {
      yield buffer.join("");
      buffer = [];
      size = 0;
    }
  }
  if (buffer.length > 0) yield buffer.join("");
}
