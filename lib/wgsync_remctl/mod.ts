/**
 * wgsync-remctl, the Remctl Generator: the remctl protocol v3 client
 * (kept-open connections on lib/gssapi), command templates, target matches,
 * the FIFO consumer per target with its pause (circuit) and dead-letter
 * handling, metrics, and the wiring the role runs. Only wgsync-remctl uses
 * this folder.
 *
 * @module
 */

export {
  RemctlConnection,
  type RemctlConnectionOptions,
  type RemctlResult,
} from "./connection.ts";
export { RemctlError, type RemctlErrorKind } from "./errors.ts";
export { RemctlPool, type RemctlPoolOptions } from "./pool.ts";
export { CommandTemplateError, renderCommand } from "./template.ts";
export { eventMatcher, type TargetMatch } from "./match.ts";
export { POISON_REASON_ATTRIBUTE } from "./dead_letter.ts";
export {
  TargetConsumer,
  type TargetConsumerOptions,
  type TargetStatus,
} from "./target.ts";
export {
  type RemctlSection,
  runRemctl,
  type RunRemctlOptions,
  statusLine,
  ticketCacheProblem,
} from "./service.ts";
