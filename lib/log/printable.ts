/**
 * Text from a peer (a DN, an LDAP diagnostic message, a frame's error text)
 * made safe to log: control characters are written as escapes, so a hostile
 * value cannot move the terminal's cursor, recolour it, hide text with
 * bidirectional overrides or forge a log line with a carriage return.
 * Applied by the renderer to every value interpolated into a message.
 *
 * @module
 */

// C0 controls but tab and newline, DEL, C1 controls, and the bidirectional
// embedding, override and isolate characters.
const UNSAFE =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with every control character but tab and newline written as
 * `\xNN` (or `\uNNNN`), e.g. `"a\u001b[31mb"` → `"a\\x1b[31mb"`.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}
