/** lib/options.ts: every check throws one RangeError form naming the option and its value. */
import assert from "node:assert/strict";
import { optionChecks } from "../lib/options.ts";

const check = optionChecks("open the widget");

Deno.test("accepted values come back unchanged", () => {
  assert.equal(check.positiveInteger("window", 64), 64);
  assert.equal(check.positiveNumber("timeout", 0.5), 0.5);
  assert.equal(check.numberInRange("share", 0, { min: 0, max: 1 }), 0);
  assert.equal(check.numberInRange("share", 1, { min: 0, max: 1 }), 1);
  assert.equal(check.oneOf("mode", "b", ["a", "b"]), "b");
  assert.equal(
    check.matching("attribute", "cn", {
      regexp: /^[a-z]+$/,
      expected: "an attribute name",
    }),
    "cn",
  );
});

Deno.test("refused values raise a RangeError naming the action, option, value and expectation", () => {
  const cases: [() => unknown, string][] = [
    [
      () => check.positiveInteger("window", 0),
      "window is 0, expected a positive integer",
    ],
    [
      () => check.positiveInteger("window", 1.5),
      "window is 1.5, expected a positive integer",
    ],
    [
      () => check.positiveNumber("timeout", -1),
      "timeout is -1, expected a positive number",
    ],
    [
      () => check.positiveNumber("timeout", Infinity),
      "timeout is Infinity, expected a positive number",
    ],
    [
      () => check.numberInRange("share", Number.NaN, { min: 0, max: 1 }),
      "share is NaN, expected a number from 0 to 1",
    ],
    [
      () => check.numberInRange("size", 2.5, { min: 1, max: 4, integer: true }),
      "size is 2.5, expected an integer from 1 to 4",
    ],
    [
      () => check.oneOf("mode", "c", ["a", "b", "d"]),
      'mode is "c", expected "a", "b" or "d"',
    ],
    [
      () =>
        check.matching("attribute", "c n", {
          regexp: /^[a-z]+$/,
          expected: "an attribute name",
        }),
      'attribute is "c n", expected an attribute name',
    ],
  ];
  for (const [fn, detail] of cases) {
    const option = detail.split(" ")[0];
    assert.throws(fn, {
      name: "RangeError",
      message: `Cannot open the widget as ${option} is invalid: ${detail}`,
    });
  }
});
