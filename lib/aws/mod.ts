/**
 * Shared AWS plumbing: client factories configured from `[aws]`, and the
 * claim-check (S3 payload pointer) writer and reader of AWS's extended
 * clients' format.
 *
 * @module
 */

export * from "./clients.ts";
export * from "./claim_check.ts";
