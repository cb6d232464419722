/**
 * Command templates: the configured argv with placeholders filled from one
 * event, as bytes for remctl. No shell is involved anywhere: each template
 * element becomes exactly one argument, whatever the values contain.
 *
 * @module
 */

import type { WorkgroupEvent } from "../events/mod.ts";

/** An event cannot be turned into a command (e.g. a value holds NUL). */
export class CommandTemplateError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "CommandTemplateError";
  }
}

const PLACEHOLDER = /\{([a-z.]+)\}/g;
const encoder = new TextEncoder();

/** The text of one placeholder for `event`; "" when the event lacks it. */
function valueOf(event: WorkgroupEvent, name: string): string {
  switch (name) {
    case "type":
      return event.type;
    case "workgroup":
      return event.workgroup;
    case "stem":
      return event.stem;
    case "member.uid":
      return event.member?.uid ?? "";
    case "member.id":
      return event.member?.id ?? "";
    case "member.dn":
      return event.member?.dn ?? "";
    case "previous":
      return event.previous ?? "";
    case "members":
      return event.members === undefined ? "" : JSON.stringify(event.members);
    case "id":
      return event.id;
    case "csn":
      return event.csn;
    case "seq":
      return String(event.seq);
    default:
      // The config schema admits only the names above.
      throw new CommandTemplateError(`unknown placeholder "{${name}}"`);
  }
}

/**
 * Fills `template` (validated by the config schema) from `event`. Throws a
 * {@linkcode CommandTemplateError} when a filled argument contains NUL, which
 * no argv can carry.
 */
export function renderCommand(
  template: readonly string[],
  event: WorkgroupEvent,
): Uint8Array[] {
  return template.map((arg, index) => {
    const text = arg.replace(
      PLACEHOLDER,
      (_, name: string) => valueOf(event, name),
    );
    if (text.includes("\0")) {
      throw new CommandTemplateError(
        `Cannot run the command for event ${event.id} as argument ${
          index + 1
        } ("${arg}") contains a NUL character, which no command argument can carry`,
      );
    }
    return encoder.encode(text);
  });
}
