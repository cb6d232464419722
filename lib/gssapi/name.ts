/**
 * GSSAPI names: importing a text name into a `gss_name_t` and displaying one.
 *
 * @module
 */

import { GssError, statusText } from "./error.ts";
import {
  type Gssapi,
  handle,
  inputBuffer,
  isGssError,
  keepAlive,
  outputBuffer,
  takeBuffer,
} from "./ffi.ts";

/**
 * Imports `text` as a name of `nameType` (a `gss_OID`) into `holder`;
 * `purpose` starts the error message, e.g. `Cannot use the target "x"`.
 * The caller releases the name with `gss_release_name`.
 */
export function importName(
  api: Gssapi,
  text: string,
  options: {
    nameType: Deno.PointerValue;
    holder: BigUint64Array<ArrayBuffer>;
    purpose: string;
  },
): void {
  const bytes = new TextEncoder().encode(text);
  const minor = new Uint32Array(1);
  const major = api.fn.gss_import_name(
    minor,
    inputBuffer(bytes),
    options.nameType,
    options.holder,
  );
  keepAlive(bytes);
  if (isGssError(major)) {
    throw new GssError(
      `${options.purpose} as the name "${text}" cannot be imported: ${
        statusText(api, major, minor[0])
      }`,
      { major, minor: minor[0] },
    );
  }
}

/** The printable form of the name in `holder`. */
export function displayName(
  api: Gssapi,
  holder: BigUint64Array<ArrayBuffer>,
): string {
  const minor = new Uint32Array(1);
  const text = outputBuffer();
  const major = api.fn.gss_display_name(minor, handle(holder), text, null);
  const bytes = takeBuffer(api, text);
  if (isGssError(major)) {
    throw new GssError(
      `Cannot display a GSSAPI name: ${statusText(api, major, minor[0])}`,
      {
        major,
        minor: minor[0],
      },
    );
  }
  return new TextDecoder().decode(bytes);
}

/** Releases the name in `holder` (if any) and clears the holder. */
export function releaseName(
  api: Gssapi,
  holder: BigUint64Array<ArrayBuffer>,
): void {
  if (holder[0] === 0n) return;
  api.fn.gss_release_name(new Uint32Array(1), holder);
  holder[0] = 0n;
}
