/**
 * Finds the programs and files the stack needs, and reports everything that
 * is missing in ONE message with the exact install command.
 *
 * @module
 */

import { StackError } from "./errors.ts";

/** Program name → Debian package that ships it. */
const PROGRAMS: Record<string, string> = {
  slapd: "slapd",
  slapadd: "slapd",
  ldapsearch: "ldap-utils",
  ldapwhoami: "ldap-utils",
  krb5kdc: "krb5-kdc",
  kdb5_util: "krb5-kdc",
  "kadmin.local": "krb5-admin-server",
  kinit: "krb5-user",
  klist: "krb5-user",
  k5start: "kstart",
  remctld: "remctl-server",
  remctl: "remctl-client",
  openssl: "openssl",
};

/** File → Debian package that ships it. */
const FILES: Record<string, string> = {
  "/usr/lib/ldap/back_mdb.so": "slapd",
  "/usr/lib/ldap/syncprov.so": "slapd",
  "/etc/ldap/schema/core.ldif": "slapd",
  "/etc/ldap/schema/cosine.ldif": "slapd",
  "/etc/ldap/schema/inetorgperson.ldif": "slapd",
  [`/usr/lib/${Deno.build.arch}-linux-gnu/sasl2/libgssapiv2.so.2`]:
    "libsasl2-modules-gssapi-mit",
};

/** Absolute paths of the programs the stack runs. */
export type Programs = Record<keyof typeof PROGRAMS | "moto_server", string>;

/** Finds every program and file the stack needs, or throws one StackError listing all that are missing. */
export function checkPrerequisites(): Programs {
  const dirs = [
    ...(Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== ""),
    "/usr/local/sbin",
    "/usr/sbin",
    "/sbin",
  ];
  const found: Record<string, string> = {};
  const packages = new Set<string>();
  const missing: string[] = [];
  for (const [program, pkg] of Object.entries(PROGRAMS)) {
    const path = findProgram(program, dirs);
    if (path === undefined) {
      packages.add(pkg);
      missing.push(program);
    } else {
      found[program] = path;
    }
  }
  for (const [file, pkg] of Object.entries(FILES)) {
    if (!exists(file)) {
      packages.add(pkg);
      missing.push(file);
    }
  }
  const moto = findProgram("moto_server", dirs);
  if (moto !== undefined) found.moto_server = moto;
  if (missing.length === 0 && moto !== undefined) return found as Programs;
  const steps: string[] = [];
  if (packages.size > 0) {
    steps.push(
      `apt-get update && apt-get install -y ${[...packages].sort().join(" ")}`,
    );
  }
  if (moto === undefined) {
    missing.push("moto_server");
    steps.push(`pip install "moto[server]"`);
  }
  throw new StackError(
    `Cannot start the local stack as programs or files are missing: ${
      missing.join(", ")
    }\nInstall them with:\n  ${steps.join("\n  ")}`,
  );
}

function findProgram(name: string, dirs: string[]): string | undefined {
  for (const dir of dirs) {
    const path = `${dir}/${name}`;
    try {
      const info = Deno.statSync(path);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return path;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
