/**
 * The common entry point of wgsync's roles.
 *
 * @module
 */
export {
  EX_USAGE,
  parseRoleArgs,
  type RoleArgs,
  type RoleFlag,
  usage,
  UsageError,
} from "./args.ts";
export {
  describeError,
  type RoleContext,
  type RoleDefinition,
  runRole,
  type RunRoleOptions,
} from "./run.ts";
