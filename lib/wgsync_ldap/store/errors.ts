/**
 * The store's error class.
 *
 * @module
 */

/** Raised when the store cannot be opened, created or written. */
export class StoreError extends Error {
  /** Constructs a StoreError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreError";
  }
}
