/**
 * Retrying an AWS call until it succeeds or the role stops: around the SDK's
 * own attempts (standard retry mode), wgsync-event keeps trying with
 * {@linkcode backoffDelay} (exponential, jittered) so that an outage of
 * minutes pauses the pipeline instead of failing it. Every failure is
 * classified for the `failed` metric and the status line.
 *
 * @module
 */

import { backoffDelay, type ResolvedBackoff } from "../backoff.ts";

/** Why a call failed, as the `reason` label of the failure metric. */
export type FailureReason =
  | "throttled"
  | "unreachable"
  | "server_error"
  | "client_error"
  | "entry_failed"
  | "entry_missing"
  | "invalid_event"
  | "invalid_stem";

/** The backoff of wgsync-event's own retries: 200 ms doubling up to 20 s, full jitter. */
export const AWS_BACKOFF: ResolvedBackoff = {
  minDelay: 200,
  maxDelay: 20_000,
  multiplier: 2,
  jitter: 1,
  maxAttempts: Infinity,
};

const THROTTLING = new Set([
  "ThrottlingException",
  "Throttling",
  "ThrottledException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "ProvisionedThroughputExceededException",
  "SlowDown",
  "KMSThrottlingException",
]);

const NETWORK = new Set([
  "TimeoutError",
  "RequestTimeout",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/** An error that knows its failure reason (e.g. a refused batch entry). */
export class ReasonedError extends Error {
  /** Why the attempt failed. */
  readonly reason: FailureReason;

  /** Constructs a ReasonedError. */
  constructor(
    reason: FailureReason,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "ReasonedError";
    this.reason = reason;
  }
}

/**
 * Classifies an error of an AWS SDK call, or of a wgsync error wrapping one
 * (its `cause`).
 */
export function failureReason(error: unknown): FailureReason {
  if (error instanceof ReasonedError) return error.reason;
  const e = error as {
    name?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
    $retryable?: { throttling?: boolean };
  };
  const name = e?.name ?? "";
  if (THROTTLING.has(name) || e?.$retryable?.throttling) return "throttled";
  if (NETWORK.has(name) || NETWORK.has(e?.code ?? "")) return "unreachable";
  const status = e?.$metadata?.httpStatusCode;
  if (status === undefined) {
    return error instanceof Error && error.cause !== undefined
      ? failureReason(error.cause)
      : "unreachable";
  }
  if (status === 429) return "throttled";
  return status >= 500 ? "server_error" : "client_error";
}

/** One line describing an AWS error without its stack. */
export function describeAwsError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } })
    .$metadata?.httpStatusCode;
  const cause = error.cause instanceof Error
    ? `: ${describeAwsError(error.cause)}`
    : "";
  return `${error.name}${
    status ? ` (HTTP ${status})` : ""
  }: ${error.message}${cause}`;
}

/** Options of {@linkcode retryUntilDone}. */
export interface RetryOptions {
  /** Aborting stops the retries; the promise rejects with the signal's reason. */
  signal: AbortSignal;
  /** @default {AWS_BACKOFF} */
  backoff?: ResolvedBackoff;
  /** Called after each failure with the delay before the next attempt. */
  onFailure?: (
    error: unknown,
    retry: { attempt: number; delay: number },
  ) => void;
}

/**
 * Runs `attempt` until it resolves, waiting a backoff delay after each
 * failure. An abort rejects at once, also while an attempt is under way
 * (a request to a hung endpoint is left to its own timeout).
 */
export async function retryUntilDone<T>(
  attempt: () => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const backoff = options.backoff ?? AWS_BACKOFF;
  const { signal } = options;
  signal.throwIfAborted();
  const aborted = Promise.withResolvers<never>();
  aborted.promise.catch(() => {});
  const abort = () => aborted.reject(signal.reason);
  signal.addEventListener("abort", abort, { once: true });
  try {
    for (let failures = 0;; failures++) {
      try {
        return await Promise.race([attempt(), aborted.promise]);
      } catch (error) {
        signal.throwIfAborted();
        const delay = backoffDelay(backoff, failures + 1);
        options.onFailure?.(error, { attempt: failures + 1, delay });
        await abortableSleep(delay, signal);
      }
    }
  } finally {
    signal.removeEventListener("abort", abort);
  }
}

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
