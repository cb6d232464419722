/**
 * `deno task local`: runs the whole pipeline locally on real components.
 * Starts the local stack in `.stack/` (slapd, MIT KDC, k5start, remctld,
 * moto), validates `.stack/wgsync.toml` with every role that exists, starts
 * the pipeline's services that exist, says which are still missing, and runs
 * until Ctrl-C; then stops everything it started.
 *
 * wgsync-ldap sends its events to wgsync-event, which publishes them to the
 * stack's SNS topic; an observer queue of its own on that topic shows each
 * event as it lands and the remctl queues its stem routes it to
 * (tasks/stack/observer.ts). wgsync-remctl runs the demo command for each
 * event on the stack's remctld; every call the demo backend records in
 * `remctl-calls.jsonl` is printed as it lands. `--once` makes a change in
 * the directory (adds a member to a workgroup), waits until its event
 * arrived through SNS and, with wgsync-remctl, until the demo backend
 * recorded its call, and stops: a quick end-to-end check.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { parse as parseToml } from "smol-toml";
import { ROLE_PERMISSIONS, type RoleName } from "../lib/permissions.ts";
import { roleCommand, type RoleCommandOptions } from "./launch.ts";
import { ldapUtil } from "./stack/ldap_admin.ts";
import { down, up } from "./stack/mod.ts";
import { describeObserved, observeTopic } from "./stack/observer.ts";

/** The pipeline's long-running services, in start order. */
const PIPELINE: readonly [string, string][] = [
  ["event", "the Event Generator"],
  ["ldap", "the LDAP Consumer"],
  ["remctl", "the Remctl Generator"],
  ["web", "the web site"],
];

const { values } = parseArgs({
  options: { once: { type: "boolean" }, dir: { type: "string" } },
});
const dir = values.dir ?? new URL("../.stack", import.meta.url).pathname;
const roles = Object.keys(ROLE_PERMISSIONS) as string[];
const launch = (
  role: string,
  extra: string[],
  options: RoleCommandOptions = {},
) =>
  roleCommand(role as RoleName, {
    args: ["--config", `${dir}/wgsync.toml`, ...extra],
    extraRead: [dir],
    extraWrite: [dir],
    env,
    ...options,
  });

await down(dir);
const stack = await up(dir);
const env = { KRB5_CONFIG: stack.krb5Config };
console.log(`Local stack in ${dir}:`);
console.log(
  `  slapd      ${stack.ldap.url} (GSSAPI as ${stack.principals.ldapClient})`,
);
console.log(`  KDC        127.0.0.1:${stack.kdc.port}, realm ${stack.realm}`);
console.log(
  `  remctld    ${stack.remctl.host}:${stack.remctl.port} (calls land in ${stack.remctl.callsFile})`,
);
console.log(`  AWS (moto) ${stack.aws.endpoint}`);
console.log(`  config     ${stack.config}`);
const site = (parseToml(await Deno.readTextFile(stack.config)) as {
  web?: { listen: string; admin_header: string; admins: string[] };
}).web;
if (site !== undefined) {
  console.log(
    `  web site   http://${site.listen}/ (read-only; changes with the header "${site.admin_header}: ${
      site.admins[0]
    }", as the reverse proxy would send it)`,
  );
}

/**
 * The flags each role runs with here; the configuration is checked with the
 * same flags (the sections a role needs can depend on them).
 */
const runFlags = (role: string): string[][] =>
  role === "ldap" && !roles.includes("event")
    ? [["--stdout"]]
    : role === "keytab_obtain"
    ? [["--instance", "ldap"], ["--instance", "remctl"]]
    : [[]];

let failed = false;
for (const role of roles) {
  for (const flags of runFlags(role)) {
    const output = await launch(role, [...flags, "--check-config"]).output();
    if (output.success) continue;
    failed = true;
    const decoder = new TextDecoder();
    console.error(
      `local: the configuration check of wgsync-${role} ${
        flags.join(" ")
      } failed (exit ${output.code}):`,
    );
    for (const text of [output.stdout, output.stderr]) {
      const shown = decoder.decode(text).trimEnd();
      if (shown !== "") console.error(shown.replace(/^/gm, "  "));
    }
  }
}

const children: Deno.ChildProcess[] = [];
const observing = new AbortController();
let events: AsyncIterable<Record<string, unknown>> | undefined;
for (const [role, what] of failed ? [] : PIPELINE) {
  if (!roles.includes(role)) {
    console.log(`  wgsync-${role}: not built yet (${what}); not started`);
    continue;
  }
  const stdout = role === "ldap" && !roles.includes("event");
  const child = launch(role, runFlags(role)[0], {
    stdout: stdout ? "piped" : "inherit",
  }).spawn();
  children.push(child);
  if (stdout) {
    events = parsed(
      child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
        splitLines(),
      ),
    );
    console.log(
      `  wgsync-${role}: started with --stdout (no wgsync-event to send to); its events follow`,
    );
  } else {
    console.log(`  wgsync-${role}: started`);
  }
}
if (!failed && events === undefined && roles.includes("event")) {
  events = landed(observeTopic(stack, observing.signal));
  console.log(
    `  events as they land on ${stack.aws.topicArn} (an observer queue of its own) follow`,
  );
}

/** The demo backend's calls (one JSON line each) as they land; printed. */
const calls: Record<string, unknown>[] = [];
async function tailCalls(file: string, signal: AbortSignal): Promise<void> {
  let offset = 0;
  while (!signal.aborted) {
    const text = await Deno.readTextFile(file).catch(() => "");
    const complete = text.slice(0, text.lastIndexOf("\n") + 1);
    for (const line of complete.slice(offset).split("\n")) {
      if (line === "") continue;
      const call = JSON.parse(line) as { argv: string[]; stdin: string };
      calls.push(call);
      const args = call.argv.map((arg) => JSON.stringify(arg)).join(" ");
      console.log(
        `  remctl call: ${
          args.length > 240 ? `${args.slice(0, 237)}...` : args
        }${call.stdin === "" ? "" : ` (stdin: ${call.stdin.length} bytes)`}`,
      );
    }
    offset = complete.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
if (!failed && roles.includes("remctl")) {
  tailCalls(stack.remctl.callsFile, observing.signal);
  console.log(
    `  calls of the demo remctl command as they land in ${stack.remctl.callsFile} follow`,
  );
}

/** Waits up to 60 s for a demo backend call naming `member` among its arguments. */
async function callLanded(member: string): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (calls.some((call) => (call.argv as string[]).includes(member))) {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

/** Prints each line (a JSON event) and yields it parsed. */
async function* parsed(
  lines: ReadableStream<string>,
): AsyncGenerator<Record<string, unknown>> {
  for await (const line of lines) {
    console.log(
      `  event: ${line.length > 300 ? `${line.slice(0, 297)}...` : line}`,
    );
    yield JSON.parse(line);
  }
}

/** Prints where each observed event landed and yields the event. */
async function* landed(
  observed: ReturnType<typeof observeTopic>,
): AsyncGenerator<Record<string, unknown>> {
  for await (const one of observed) {
    console.log(`  event: ${describeObserved(one)}`);
    yield one.event;
  }
}

/** Splits a text stream into lines. */
function splitLines(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, controller) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) controller.enqueue(line);
    },
    flush(controller) {
      if (rest !== "") controller.enqueue(rest);
    },
  });
}

/** Follows the events; with `--once`, returns after the event of the change made. */
async function follow(
  stream: AsyncIterable<Record<string, unknown>>,
): Promise<boolean> {
  const workgroup = `cn=uit:helpdesk,${stack.ldap.workgroupBase}`;
  const member = `uid=local-check,${stack.ldap.peopleBase}`;
  let changed = false;
  for await (const event of stream) {
    if (!values.once) continue;
    const dn = (event.member as { dn?: string } | undefined)?.dn;
    if (event.type === "member.added" && dn === member) {
      if (!roles.includes("remctl")) return true;
      const landedAtRemctl = await callLanded(member);
      if (landedAtRemctl) {
        console.log("local: ... and reached the demo remctl backend");
      } else {
        console.error("local: the event did not reach the demo remctl backend");
      }
      return landedAtRemctl;
    }
    if (!changed && event.type === "workgroup.created") {
      changed = true;
      await addMember(workgroup, member);
    }
  }
  return false;
}

async function addMember(workgroup: string, member: string): Promise<void> {
  await ldapUtil(
    stack,
    "ldapmodify",
    `dn: ${workgroup}\nchangetype: modify\nadd: member\nmember: ${member}\n`,
  );
}

if (!failed) {
  const stop = new Promise<false>((resolve) => {
    Deno.addSignalListener("SIGINT", () => resolve(false));
    Deno.addSignalListener("SIGTERM", () => resolve(false));
  });
  if (!values.once) console.log("Running; Ctrl-C stops everything.");
  const seen = await Promise.race([events ? follow(events) : stop, stop]);
  if (values.once && !seen) {
    console.error("local: the directory change did not come out as an event");
    failed = true;
  } else if (values.once) {
    console.log("local: a directory change came out as its member.added event");
  }
}
observing.abort();
for (const child of children) child.kill("SIGTERM");
await Promise.all(children.map((child) => child.status));
await down(dir);
console.log(`Stopped the local stack in ${dir}.`);
Deno.exit(failed ? 1 : 0);
