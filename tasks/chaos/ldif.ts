/**
 * LDIF change records for the chaos driver: RFC 4514 escaping of an RDN
 * value and RFC 2849 lines (a value that is not a safe string is base64).
 *
 * @module
 */

/** Escapes an attribute value for use in a DN (RFC 4514 section 2.4). */
export function escapeRdnValue(value: string): string {
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (`,+"\\<>;=`.includes(c)) out += `\\${c}`;
    else if (c === "\0") out += "\\00";
    else if (
      (i === 0 && (c === " " || c === "#")) ||
      (i === value.length - 1 && c === " ")
    ) {
      out += `\\${c}`;
    } else out += c;
  }
  return out;
}

/** Printable ASCII not starting with space, ":" or "<" (RFC 2849 SAFE-STRING, narrowed). */
const SAFE = /^[\x21-\x39\x3b\x3d-\x7e][\x20-\x7e]*$/;

/** One LDIF line `name: value`, base64 (`name:: …`) when the value is not safe. */
export function line(name: string, value: string): string {
  if (value === "" || (SAFE.test(value) && !value.endsWith(" "))) {
    return `${name}: ${value}`;
  }
  const bytes = new TextEncoder().encode(value);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `${name}:: ${btoa(binary)}`;
}

/** A change record: `dn`, `changetype` and the body lines. */
export function record(dn: string, changetype: string, body: string[]): string {
  return [line("dn", dn), `changetype: ${changetype}`, ...body].join("\n") +
    "\n\n";
}
