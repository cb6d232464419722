/**
 * The authenticated, acknowledged channel between wgsync-ldap (client) and
 * wgsync-event (server).
 *
 * @module
 */

export * from "./address.ts";
export * from "./auth.ts";
export * from "./framing.ts";
export * from "./protocol.ts";
export * from "./client.ts";
export * from "./server.ts";
