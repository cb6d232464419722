/**
 * The `[remctl]` section: wgsync-remctl, the Remctl Generator. One
 * `[[remctl.targets]]` table per target: its SQS FIFO queue (the dead-letter
 * queue is the queue's redrive policy), the remctl server, which events it
 * wants, and the command template.
 *
 * @module
 */
import { z } from "zod";
import { EVENT_TYPES } from "../../events/mod.ts";
import { absolutePath, metricsListen, seconds } from "./values.ts";

/**
 * The placeholders a command template may use (README, "wgsync-remctl");
 * `{csn}` (the change's entryCSN) and `{seq}` (the consumer's per-workgroup
 * number) let a backend order what it receives as DESIGN.md asks: by csn.
 */
export const COMMAND_PLACEHOLDERS = [
  "type",
  "workgroup",
  "stem",
  "member.uid",
  "member.id",
  "member.dn",
  "previous",
  "members",
  "id",
  "csn",
  "seq",
] as const;

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** The template's problem, or undefined when it is usable. */
function templateProblem(command: string[]): string | undefined {
  for (const [index, arg] of command.entries()) {
    for (const [, name] of arg.matchAll(PLACEHOLDER)) {
      if (!(COMMAND_PLACEHOLDERS as readonly string[]).includes(name)) {
        return `unknown placeholder "{${name}}" in argument ${
          index + 1
        }: expected one of ${
          COMMAND_PLACEHOLDERS.map((p) => `{${p}}`).join(" ")
        }`;
      }
      if (
        name === "members" &&
        (arg !== "{members}" || index !== command.length - 1)
      ) {
        return `"{members}" must be the whole last argument (remctld's stdin=last hands it to the backend on standard input), found in argument ${
          index + 1
        } "${arg}"`;
      }
    }
  }
  return undefined;
}

const glob = z.string().min(1);

/** One target: a queue, a remctl server and a command. */
export const remctlTargetSchema = z.strictObject({
  /** A short name for logs, STATUS= and metrics. */
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, {
    message: "expected letters, digits, '.', '_' or '-'",
  }),
  /** The SQS FIFO queue (URL ending in .fifo). */
  queue_url: z.url().regex(/\.fifo$/, {
    message: "expected the URL of a FIFO queue (ending in .fifo)",
  }),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(4373),
  /** The server's Kerberos principal; default `host/<host>`. */
  principal: z.string().min(1).optional(),
  /** Which events run the command; the rest are deleted unrun. Every list is optional (absent: all). */
  match: z.strictObject({
    types: z.array(
      z.enum(EVENT_TYPES),
    ).min(1).optional(),
    stems: z.array(z.string().min(1)).min(1).optional(),
    /** Shell-style globs (`*`, `?`) over the workgroup name. */
    workgroups: z.array(glob).min(1).optional(),
  }).default({}),
  /** argv of the remctl command: command, subcommand, arguments with placeholders. */
  command: z.array(z.string()).min(2).check((ctx) => {
    const problem = templateProblem(ctx.value);
    if (problem !== undefined) {
      ctx.issues.push({ code: "custom", input: ctx.value, message: problem });
    }
  }),
});

/** wgsync-remctl, the Remctl Generator. */
export const remctlSchema = z.strictObject({
  /** The ticket cache k5start keeps for the role's principal. */
  ccache: absolutePath,
  /** Commands in flight per target (of different FIFO groups: stems). */
  concurrency: z.number().int().min(1).max(64).default(8),
  /** Longest time one command may take. */
  timeout_seconds: seconds.default(60),
  /** Kept-open connections idle this long are closed. */
  idle_seconds: seconds.default(300),
  /**
   * Failed runs of one message's command (exit non-zero, or refused by
   * remctld) before wgsync-remctl sends it to the dead-letter queue with the
   * reason; the queue's maxReceiveCount should be well above it (a backstop).
   */
  command_attempts: z.number().int().min(1).max(100).default(5),
  /** Longest pause of a target whose server fails (backoff ceiling). */
  max_pause_seconds: seconds.default(60),
  /** Loopback `host:port` for `/metrics` and `/healthz`; off when unset. */
  metrics_listen: metricsListen,
  targets: z.array(remctlTargetSchema).min(1).check((ctx) => {
    const seen = new Set<string>();
    for (const target of ctx.value) {
      for (
        const key of [
          `name "${target.name}"`,
          `queue_url "${target.queue_url}"`,
        ]
      ) {
        if (seen.has(key)) {
          ctx.issues.push({
            code: "custom",
            input: ctx.value,
            message: `two targets have the same ${key}: expected each once`,
          });
        }
        seen.add(key);
      }
    }
  }),
});
