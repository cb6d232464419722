/**
 * The mass-deletion guard: a refresh that would delete more than a configured
 * share of the workgroups is not applied (providers are known to send
 * stripped present lists), unless an operator accepted it once.
 *
 * @module
 */
import { optionChecks } from "../options.ts";

/** Options of {@linkcode MassDeletionGuard}. */
export interface GuardOptions {
  /** The largest share of workgroups one refresh may delete, from 0 to 1. Default 0.10. */
  maxShare?: number;
  /** Let the next refresh above the share through, once (`--accept-mass-delete`). Default false. */
  acceptMassDelete?: boolean;
}

/** The guard's verdict on one refresh. */
export interface GuardVerdict {
  allowed: boolean;
  /** True when the refresh exceeded the share and went through by `acceptMassDelete`. */
  accepted: boolean;
  deletions: number;
  workgroups: number;
  share: number;
  maxShare: number;
}

/** Decides whether a refresh's deletions may be applied. */
export class MassDeletionGuard {
  #maxShare: number;
  #accept: boolean;

  /** Validates the options up front. */
  constructor(options: GuardOptions = {}) {
    this.#maxShare = optionChecks("configure the mass-deletion guard")
      .numberInRange("maxShare", options.maxShare ?? 0.10, { min: 0, max: 1 });
    this.#accept = options.acceptMassDelete ?? false;
  }

  /** The configured share. */
  get maxShare(): number {
    return this.#maxShare;
  }

  /**
   * Judges a refresh that would delete `deletions` of `workgroups` workgroups.
   * An exceeding refresh is allowed only while `acceptMassDelete` is unused;
   * allowing one uses it up.
   */
  check(deletions: number, workgroups: number): GuardVerdict {
    const share = workgroups === 0 ? 0 : deletions / workgroups;
    const exceeds = share > this.#maxShare;
    const accepted = exceeds && this.#accept;
    if (accepted) this.#accept = false;
    return {
      allowed: !exceeds || accepted,
      accepted,
      deletions,
      workgroups,
      share,
      maxShare: this.#maxShare,
    };
  }
}
