/**
 * The Deno permissions of every role, in one place. The roles' shebang lines
 * are generated from here (`deno task permissions --write`, checked by the
 * tests), the development launcher runs roles with these flags, and the
 * compile step reads them too.
 *
 * @module
 */

/** A role's permissions; paths are absolute, lists are exact. */
export interface RolePermissions {
  read: readonly string[];
  write: readonly string[];
  /** Hosts (`host:port`) and `unix:` socket paths, or true for unscoped. */
  net: readonly string[] | true;
  env: readonly string[] | true;
  run: readonly string[];
  ffi: boolean;
  sys: readonly string[];
}

/** Where systemd's notification and journal sockets live. */
export const SYSTEMD_SOCKETS = [
  "/run/systemd/notify",
  "/run/systemd/journal/socket",
] as const;

const SYSTEMD_ENV = [
  "NOTIFY_SOCKET",
  "WATCHDOG_USEC",
  "WATCHDOG_PID",
  "JOURNAL_STREAM",
];

/**
 * What the AWS SDK asks of `--allow-sys`: the OS release (user agent), and
 * the uid and home directory, which its shared-config loader looks up when
 * HOME is unset (systemd sets none for root units, nor for a user whose home
 * is `/`).
 */
const AWS_SDK_SYS = ["osRelease", "uid", "homedir"];

/** The permissions of each role, by the name of its module in `roles/`. */
export const ROLE_PERMISSIONS = {
  ebs: {
    read: ["/etc/wgsync"],
    write: ["/run/systemd"],
    net: SYSTEMD_SOCKETS.map((socket) => `unix:${socket}`),
    env: SYSTEMD_ENV,
    run: ["mount", "blkid", "findmnt"],
    ffi: false,
    sys: [],
  },
  /**
   * wgsync-ldap. Net is unscoped: the LDAP host comes from the configuration
   * (and a host:port list cannot be known when the shebang is written); it
   * also covers the channel's `unix:` socket and systemd's sockets. Reading
   * and writing /run/wgsync is what connecting to the channel socket needs.
   * /run/wgsync-ctl holds its control socket (listening on a Unix
   * socket needs read and write permission on its path).
   * FFI is MIT GSSAPI (it reads the k5start ccache in /run/wgsync-ldap and
   * KRB5_CONFIG itself, outside Deno's permissions).
   */
  ldap: {
    read: [
      "/etc/wgsync",
      "/var/lib/wgsync",
      "/run/wgsync-ldap",
      "/run/wgsync",
      "/run/wgsync-ctl",
    ],
    write: [
      "/var/lib/wgsync",
      "/run/systemd",
      "/run/wgsync",
      "/run/wgsync-ctl",
    ],
    net: true,
    env: SYSTEMD_ENV,
    run: [],
    ffi: true,
    sys: [],
  },
  /**
   * wgsync-keytab-obtain. Reads its configuration and encrypted keytabs in
   * /etc/wgsync and the service users in /etc/passwd; writes the clear keytab
   * under /run (the output may be any path there, by the schema). Net is
   * unscoped: KMS's endpoint comes from the region or the configuration.
   * The AWS SDK needs all of the environment, the OS release, and the uid
   * and home directory when HOME is unset.
   */
  keytab_obtain: {
    read: ["/etc/wgsync", "/etc/passwd", "/run"],
    write: ["/run"],
    net: true,
    env: true,
    run: [],
    ffi: false,
    sys: AWS_SDK_SYS,
  },
  /**
   * wgsync-web. Net is unscoped: it listens on, scrapes and calls AWS at
   * addresses from the configuration; env is unscoped and osRelease is read
   * for the AWS SDK. It asks wgsync-ldap's control socket for workgroups and
   * members (it never reads wgsync-ldap's 0600 store) and snapshots (Deno
   * asks read and write permission for a Unix socket's path).
   */
  web: {
    read: ["/etc/wgsync", "/run/wgsync-ctl"],
    write: ["/run/systemd", "/run/wgsync-ctl"],
    net: true,
    env: true,
    run: [],
    ffi: false,
    sys: AWS_SDK_SYS,
  },
  /**
   * wgsync-remctl. Net is unscoped: SQS, S3 and the remctl servers come from
   * the configuration. FFI is MIT GSSAPI (it reads the k5start ccache in
   * /run/wgsync-remctl and KRB5_CONFIG itself). The AWS SDK needs all of the
   * environment and the OS release.
   */
  remctl: {
    read: ["/etc/wgsync", "/run/wgsync-remctl"],
    write: ["/run/systemd"],
    net: true,
    env: true,
    run: [],
    ffi: true,
    sys: AWS_SDK_SYS,
  },
  /**
   * wgsync-event. Net is unscoped: the AWS endpoints (SNS, DynamoDB, S3 —
   * regional host names, S3 bucket host names, the instance metadata service
   * for instance-role credentials, or a configured endpoint) come from the
   * configuration and the SDK; it also covers the channel's `unix:` socket
   * it listens on, the metrics listener and systemd's sockets. Env is
   * unscoped: the AWS SDK reads many variables (AWS_REGION, AWS_PROFILE,
   * AWS_CONTAINER_*, …) and fails on one it may not read. `osRelease` is the
   * SDK's user agent. Writing /run/wgsync creates the channel socket;
   * /etc/wgsync holds the configuration and the optional AWS credentials
   * file; the unit binds the per-boot channel key (made by
   * wgsync-channel-key.service in /run/wgsync-secrets) over
   * /etc/wgsync/channel.key.
   */
  event: {
    read: ["/etc/wgsync", "/run/wgsync"],
    write: ["/run/systemd", "/run/wgsync"],
    net: true,
    env: true,
    run: [],
    ffi: false,
    sys: AWS_SDK_SYS,
  },
} as const satisfies Record<string, RolePermissions>;

/** The name of a role module in `roles/`. */
export type RoleName = keyof typeof ROLE_PERMISSIONS;

/** Options for {@linkcode permissionFlags}. */
export interface PermissionFlagsOptions {
  /** Further paths to read, e.g. a development stack's directory. @default {[]} */
  extraRead?: readonly string[];
  /** Further paths to write. @default {[]} */
  extraWrite?: readonly string[];
  /** Further hosts or `unix:` sockets to reach (ignored when net is unscoped). @default {[]} */
  extraNet?: readonly string[];
}

/**
 * V8 flags a role runs with (`--v8-flags=`), each with its reason. Given by
 * the compile step (executables and launchers) and the development launcher;
 * not by the shebang lines, which have no room left (Linux passes 255 bytes).
 */
export const ROLE_V8_FLAGS: Partial<Record<RoleName, readonly string[]>> = {
  // wgsync-ldap: the young generation at most 3 × 8 MiB (V8 grows it to
  // 3 × 32 MiB under a steady allocation rate, as while the outbox of a
  // first refresh drains), and a full collection once the old generation
  // doubled since the last one (V8's factor for a small heap is up to 4:
  // the events drained were collected at 2.7 times the live heap). Neither
  // caps anything: objects that outgrow the young generation are promoted
  // or go to the large-object space, the old generation's limit grows with
  // what is live, so an event of any size (a 200,000-member
  // workgroup.created is about 15 MB of JSON) is unaffected. Peak RSS after
  // 100,000 events drained: 262 → 212 → 168 MiB; CPU to READY=1 unchanged,
  // of the drain about +15 % (more full collections).
  ldap: ["--max-semi-space-size=8", "--heap-growing-percent=100"],
};

/** The `deno run` runtime flag carrying `role`'s V8 flags, if it has any. */
export function v8Flags(role: RoleName): string[] {
  const flags = ROLE_V8_FLAGS[role] ?? [];
  return flags.length === 0 ? [] : [`--v8-flags=${flags.join(",")}`];
}

/** The `deno run` flags granting `role` exactly its permissions. */
export function permissionFlags(
  role: RoleName,
  options: PermissionFlagsOptions = {},
): string[] {
  const permissions: RolePermissions = ROLE_PERMISSIONS[role];
  const read = [...permissions.read, ...(options.extraRead ?? [])];
  const write = [...permissions.write, ...(options.extraWrite ?? [])];
  const flags: string[] = [];
  // Short forms where Deno has them: Linux passes only 255 bytes of a shebang.
  const list = (flag: string, values: readonly string[] | true) => {
    if (values === true) flags.push(flag);
    else if (values.length > 0) flags.push(`${flag}=${values.join(",")}`);
  };
  list("-R", read);
  list("-W", write);
  list(
    "-N",
    permissions.net === true
      ? true
      : [...permissions.net, ...(options.extraNet ?? [])],
  );
  list("-E", permissions.env);
  list("--allow-run", permissions.run);
  if (permissions.ffi) flags.push("--allow-ffi");
  list("-S", permissions.sys);
  return flags;
}

/** The shebang line of a role module: `deno run` with exactly its flags. */
export function shebang(role: RoleName): string {
  return [
    "#!/usr/bin/env -S deno run --cached-only",
    ...permissionFlags(role),
  ].join(" ");
}
