/**
 * The authenticated, acknowledged channel between wgsync-ldap (client) and
 * wgsync-event (server). The wire format is described in protocol.ts.
 *
 * @module
 */

export * from "./address.ts";
export * from "./auth.ts";
export * from "./defaults.ts";
export * from "./framing.ts";
export * from "./protocol.ts";
export * from "./session.ts";
export * from "./client.ts";
export * from "./server.ts";
