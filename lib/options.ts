/**
 * Validation of a module's options, the one way: every check throws a
 * `RangeError` worded like the others, naming what could not be done, the
 * option, its value and what was expected (modelled on `@std/async`
 * `retry()`'s option checks):
 *
 * ```ts
 * const check = optionChecks("open the channel client");
 * const window = check.positiveInteger("window", options.window ?? 64);
 * // RangeError: Cannot open the channel client as window is invalid:
 * //   window is 0, expected a positive integer
 * ```
 *
 * @module
 */

/** The checks of {@linkcode optionChecks}; each returns the value it accepted. */
export interface OptionChecks {
  /** An integer ≥ 1. */
  positiveInteger(name: string, value: number): number;
  /** A finite number > 0. */
  positiveNumber(name: string, value: number): number;
  /** A finite number from `range.min` to `range.max` (both included, when given). */
  numberInRange(name: string, value: number, range: NumberRange): number;
  /** One of `choices`. */
  oneOf<T extends string>(
    name: string,
    value: string,
    choices: readonly T[],
  ): T;
  /** A string matching `pattern`, described as `expected`. */
  matching(
    name: string,
    value: string,
    pattern: { regexp: RegExp; expected: string },
  ): string;
  /** Throws the `RangeError` for a check of the caller's own. */
  invalid(name: string, value: unknown, expected: string): never;
}

/** Bounds for {@linkcode OptionChecks.numberInRange}. */
export interface NumberRange {
  min: number;
  /** The largest accepted value. @default {no bound} */
  max?: number;
  /** Accept integers only. @default {false} */
  integer?: boolean;
}

/**
 * Checks for the options of one action, e.g. `"start the channel server"`
 * (read as "Cannot start the channel server as …").
 */
export function optionChecks(action: string): OptionChecks {
  const invalid = (name: string, value: unknown, expected: string): never => {
    throw new RangeError(
      `Cannot ${action} as ${name} is invalid: ${name} is ${
        show(value)
      }, expected ${expected}`,
    );
  };
  return {
    invalid,
    positiveInteger(name, value) {
      if (!Number.isSafeInteger(value) || value < 1) {
        invalid(name, value, "a positive integer");
      }
      return value;
    },
    positiveNumber(name, value) {
      if (!(Number.isFinite(value) && value > 0)) {
        invalid(name, value, "a positive number");
      }
      return value;
    },
    numberInRange(name, value, range) {
      const { min, max = Infinity, integer = false } = range;
      const ok = integer ? Number.isSafeInteger(value) : Number.isFinite(value);
      if (!ok || value < min || value > max) {
        const kind = integer ? "an integer" : "a number";
        invalid(
          name,
          value,
          max === Infinity
            ? `${kind} of at least ${min}`
            : `${kind} from ${min} to ${max}`,
        );
      }
      return value;
    },
    oneOf(name, value, choices) {
      if (!(choices as readonly string[]).includes(value)) {
        invalid(
          name,
          value,
          choices.map((choice) => JSON.stringify(choice)).join(", ").replace(
            /, ([^,]*)$/,
            " or $1",
          ),
        );
      }
      return value as (typeof choices)[number];
    },
    matching(name, value, pattern) {
      if (typeof value !== "string" || !pattern.regexp.test(value)) {
        invalid(name, value, pattern.expected);
      }
      return value;
    },
  };
}

function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}
