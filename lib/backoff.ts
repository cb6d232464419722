/**
 * Exponential backoff with jitter for reconnecting, shared by the LDAP client
 * and the channel (modelled on the options of denoland/std `async/retry.ts`).
 *
 * @module
 */
import { optionChecks } from "./options.ts";

/** How long to wait between reconnect attempts. */
export interface BackoffOptions {
  /** Delay before the first retry, in milliseconds. Default 1,000. */
  minDelay?: number;
  /** Longest delay, in milliseconds. Default 60,000. */
  maxDelay?: number;
  /** Factor the delay grows by after each failed attempt. Default 2. */
  multiplier?: number;
  /**
   * Share of each delay that is random, from 0 (none) to 1 (the delay is
   * anywhere between 0 and its full value). Default 1.
   */
  jitter?: number;
  /**
   * Failed attempts in a row before giving up and throwing the last error;
   * `Infinity` retries forever. Default Infinity.
   */
  maxAttempts?: number;
}

/** Backoff options with every default filled in. */
export type ResolvedBackoff = Required<BackoffOptions>;

/** The defaults of {@linkcode BackoffOptions}. */
export const DEFAULT_BACKOFF: ResolvedBackoff = {
  minDelay: 1_000,
  maxDelay: 60_000,
  multiplier: 2,
  jitter: 1,
  maxAttempts: Infinity,
};

/**
 * Fills in `defaults` (default {@linkcode DEFAULT_BACKOFF}) and validates;
 * throws a RangeError naming the bad option.
 */
export function resolveBackoff(
  options: BackoffOptions = {},
  defaults: ResolvedBackoff = DEFAULT_BACKOFF,
): ResolvedBackoff {
  const resolved = { ...defaults, ...withoutUndefined(options) };
  const { minDelay, maxDelay, multiplier, jitter, maxAttempts } = resolved;
  const check = optionChecks("use the reconnect options");
  check.numberInRange("minDelay", minDelay, { min: 0 });
  check.numberInRange("maxDelay", maxDelay, {
    min: minDelay,
  });
  check.numberInRange("multiplier", multiplier, {
    min: 1,
  });
  check.numberInRange("jitter", jitter, { min: 0, max: 1 });
  if (
    maxAttempts !== Infinity &&
    !(Number.isSafeInteger(maxAttempts) && maxAttempts >= 1)
  ) {
    check.invalid("maxAttempts", maxAttempts, "a positive integer or Infinity");
  }
  return resolved;
}

/** The delay before retry number `attempt` (1 for the first retry), in milliseconds. */
export function backoffDelay(
  backoff: ResolvedBackoff,
  attempt: number,
): number {
  const full = Math.min(
    backoff.maxDelay,
    backoff.minDelay * backoff.multiplier ** Math.max(0, attempt - 1),
  );
  return Math.round(full - Math.random() * backoff.jitter * full);
}

function withoutUndefined(options: BackoffOptions): BackoffOptions {
  return Object.fromEntries(
    Object.entries(options).filter(([, value]) => value !== undefined),
  );
}
