/**
 * The event schema v1: the contract between wgsync-ldap, which derives the
 * events, and wgsync-event and wgsync-remctl, which carry and act on them
 * (DESIGN.md "Events").
 *
 * @module
 */

export * from "./schema.ts";
export * from "./parse.ts";
