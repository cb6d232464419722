/**
 * The controls of one sync search's responses: finds the Sync State and Sync
 * Done controls, decodes their values (a BER failure becomes an
 * {@linkcode LdapProtocolError} naming what was decoded), and logs each
 * unknown response control once per search.
 *
 * @module
 */

import { getLogger } from "../log/mod.ts";
import { BerError } from "./ber.ts";
import { LdapProtocolError } from "./errors.ts";
import type { ResponseControl } from "./messages.ts";

const log = getLogger(["lib", "ldap"]);

/** Reads the controls of the responses of one sync search. */
export class SyncResponseControls {
  #label: string;
  #loggedControls = new Set<string>();

  /** `label` names the server in errors (`scheme://host:port`). */
  constructor(label: string) {
    this.#label = label;
  }

  /** The value of the control `oid` (empty if it has none); logs the other controls. */
  syncControl(
    controls: ResponseControl[],
    oid: string,
    where: string,
  ): Uint8Array | undefined {
    let value: Uint8Array | undefined;
    for (const control of controls) {
      if (control.oid === oid && value === undefined) {
        value = control.value ?? new Uint8Array();
      }
    }
    this.logUnknownControls(controls, [oid], where);
    return value;
  }

  /**
   * Response controls this client does not know are ignored, critical or not:
   * RFC 4511 section 4.1.11 says criticality is meaningless on responses and
   * must be ignored. Each unknown OID is logged once per search.
   */
  logUnknownControls(
    controls: ResponseControl[],
    known: string[],
    where: string,
  ): void {
    for (const control of controls) {
      if (
        known.includes(control.oid) || this.#loggedControls.has(control.oid)
      ) {
        continue;
      }
      this.#loggedControls.add(control.oid);
      log.warn(
        "Ignoring the unknown response control {oid} (critical: {critical}) on {where} of the sync search",
        { oid: control.oid, critical: control.critical, where },
      );
    }
  }

  decode<T>(decode: () => T, what: string): T {
    try {
      return decode();
    } catch (error) {
      if (error instanceof BerError) {
        throw new LdapProtocolError(
          `Cannot decode ${what} as ${error.message}: server is ${this.#label}`,
          { cause: error },
        );
      }
      throw error;
    }
  }
}
