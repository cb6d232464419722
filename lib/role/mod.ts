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
  defineRole,
  describeError,
  type RoleConfig,
  type RoleContext,
  type RoleDefinition,
  type RoleFlags,
  runRole,
  type RunRoleOptions,
} from "./run.ts";
