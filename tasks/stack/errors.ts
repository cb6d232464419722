/**
 * The error the local stack throws when a part cannot be prepared or started.
 *
 * @module
 */

/** A stack part failed; `message` names the part and the input, `cause` the underlying error. */
export class StackError extends Error {
  /** Creates a StackError with an optional cause. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StackError";
  }
}
