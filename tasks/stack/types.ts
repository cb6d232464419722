/**
 * Shapes shared by the local stack: what `up` writes to `DIR/stack.json` and
 * prints on stdout, and the options that size its sample data.
 *
 * @module
 */

/** A process the stack started; `startTime` (clock ticks after boot, from /proc) guards against PID reuse. */
export interface StackProcess {
  /** Short role name, e.g. "kdc", "slapd", "k5start-ldap". */
  name: string;
  pid: number;
  startTime: number;
}

/** Kerberos principals (without realm suffix they are not written: all carry `@REALM`). */
export interface StackPrincipals {
  /** Client principal of the LDAP consumer (`service/wgsync-ldap@REALM`). */
  ldapClient: string;
  /** Client principal of the remctl generator (`service/wgsync-remctl@REALM`). */
  remctlClient: string;
  /** Acceptor principal of slapd (`ldap/localhost@REALM`). */
  ldapService: string;
  /** Acceptor principal of remctld (`host/localhost@REALM`). */
  hostService: string;
}

/** One demo remctl target: a FIFO queue (+ dead-letter queue) subscribed to the topic. */
export interface StackQueue {
  /** Target name, e.g. "research". */
  target: string;
  url: string;
  arn: string;
  dlqUrl: string;
  dlqArn: string;
  subscriptionArn: string;
  /** The SNS subscription FilterPolicy (on message attributes), as an object. */
  filterPolicy: Record<string, string[]>;
}

/** What the sample data holds (sample data set or the generator's output). */
export interface StackData {
  /** "sample" (default data) or "generated" (`--groups/--members/--people`). */
  kind: "sample" | "generated";
  people: number;
  workgroups: number;
  /** Total `member` values over all workgroups. */
  memberValues: number;
  stems: string[];
  /** Name (`stem:name`) of the workgroup with the most members. */
  largestWorkgroup: string;
  largestWorkgroupMembers: number;
  /** Name of the workgroup carrying non-ASCII text (sample data only). */
  nonAsciiWorkgroup?: string;
}

/** Everything a client needs to reach the local stack; written to `DIR/stack.json`. */
export interface StackInfo {
  /** Absolute stack directory; everything lives inside it. */
  dir: string;
  realm: string;
  /** Path for `KRB5_CONFIG`. */
  krb5Config: string;
  /** Directory to use as `KRB5RCACHEDIR` for acceptors. */
  krb5RcacheDir: string;
  kdc: { port: number; pid: number; kdcProfile: string };
  principals: StackPrincipals;
  /** Keytab paths (mode 0600), one per principal. */
  keytabs: StackPrincipals;
  /** Ticket caches kept fresh by k5start (`FILE:` not prefixed). */
  ccaches: { ldapClient: string; remctlClient: string };
  /** PIDs of the k5start daemons keeping `ccaches` alive. */
  k5start: { ldapClient: number; remctlClient: number };
  ldap: {
    /** `ldap://127.0.0.1:PORT` (use StartTLS with `caFile`; GSSAPI needs the name `localhost`). */
    url: string;
    /** `ldap://localhost:PORT`, the URL GSSAPI clients should use. */
    gssapiUrl: string;
    port: number;
    pid: number;
    suffix: string;
    peopleBase: string;
    workgroupBase: string;
    /** DN that `service/wgsync-ldap` maps to (read access to everything the consumer needs). */
    consumerDn: string;
    adminDn: string;
    /** File (0600) holding the admin password. */
    adminPasswordFile: string;
    caFile: string;
    saslHost: string;
    slapdConfigDir: string;
    dataDir: string;
    logFile: string;
    /** argv that starts slapd (argv[0] is the binary). */
    argv: string[];
    /** Environment slapd needs on a restart (KRB5_CONFIG, KRB5_KTNAME, KRB5RCACHEDIR). */
    env: Record<string, string>;
  };
  remctl: {
    /** Host name to connect to (`localhost`, matching the `host/localhost` principal). */
    host: string;
    port: number;
    pid: number;
    /** Server principal to pass as `remctl -s`. */
    service: string;
    command: string;
    subcommand: string;
    /** JSON lines file, one line per demo command call: `{time, argv, principal, ...}`. */
    callsFile: string;
    /** If this file exists, the demo command exits with the number it holds (never 1 or 255). */
    exitCodeFile: string;
    /** If this file exists, the demo command waits the milliseconds it holds before recording the call. */
    delayFile: string;
    configFile: string;
    logFile: string;
  };
  aws: {
    endpoint: string;
    region: string;
    accessKeyId: string;
    secretAccessKey: string;
    pid: number;
    port: number;
    stemsTable: string;
    topicArn: string;
    queues: StackQueue[];
    kmsKeyId: string;
    kmsKeyArn: string;
    kmsAlias: string;
    /** The S3 bucket for claim-check payloads (moto serves S3 on the same port). */
    claimCheckBucket: string;
    /** wgsync-web's live-events queue (subscribed to the topic, no filter). */
    webQueueUrl: string;
    logFile: string;
  };
  /** Path of the generated `wgsync.toml`. */
  config: string;
  data: StackData;
  /** Every process started, for `down`. */
  processes: StackProcess[];
  /** Milliseconds per phase of `up` (and `total`). */
  timings: Record<string, number>;
}

/** Sizes for the data generator; all absent means the sample data set. */
export interface DataOptions {
  /** Number of workgroups to generate. */
  groups?: number;
  /** Members per generated workgroup. */
  members?: number;
  /** Number of people to generate. */
  people?: number;
}
