/**
 * The error class of wgsync-ldap's wiring.
 *
 * @module
 */

/** Raised when the consumer cannot run. */
export class ConsumerError extends Error {
  /** Constructs a ConsumerError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConsumerError";
  }
}
