/**
 * The LDAP Consumer's library: the store (workgroups, people, cookies,
 * outbox), event derivation from sync messages, the mass-deletion guard and
 * the outbox pump to the channel.
 *
 * @module
 */

export * from "./events.ts";
export * from "./member.ts";
export * from "./store.ts";
export * from "./guard.ts";
export * from "./apply.ts";
export * from "./people.ts";
export * from "./pump.ts";
