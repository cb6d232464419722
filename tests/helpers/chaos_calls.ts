/**
 * Hand-made demo backend calls for the chaos checker's tests: one call line
 * as the backend records it, and a list of them read back as events.
 *
 * @module
 */
import { type DemoCall, parseCalls } from "../../tasks/chaos/check.ts";

/** The placeholders the calls' arguments are filled from. */
export const FIELDS = [
  "type",
  "workgroup",
  "member.dn",
  "previous",
  "id",
  "csn",
];
/** A person's DN in the stack's directory. */
export const dn = (uid: string) => `uid=${uid},ou=people,dc=example,dc=edu`;

/** One call of the demo command as the backend records it (the event as arguments, members on standard input). */
export function call(
  type: string,
  workgroup: string,
  options: {
    id: string;
    csn: string;
    member?: string;
    previous?: string;
    members?: string[];
    exitCode?: number;
  },
): DemoCall {
  return {
    argv: [
      "demo",
      type,
      workgroup,
      options.member ?? "",
      options.previous ?? "",
      options.id,
      options.csn,
    ],
    stdin: options.members === undefined
      ? ""
      : JSON.stringify(options.members.map((m) => ({ dn: m, id: m }))),
    exitCode: options.exitCode ?? 0,
  };
}

/** The calls read back as events. */
export const calls = (list: DemoCall[]) =>
  parseCalls(list.map((c) => JSON.stringify(c)).join("\n"), FIELDS);
