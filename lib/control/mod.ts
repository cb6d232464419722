/**
 * wgsync-ldap's local control socket: the protocol and its client (used by
 * `wgsync-ldap snapshot WORKGROUP` and by wgsync-web's resync button). The
 * server end is wgsync-ldap's (`lib/wgsync_ldap/control.ts`).
 *
 * @module
 */
export {
  ControlError,
  type ControlRequest,
  formatRequest,
  MAX_REQUEST_BYTES,
  parseRequest,
} from "./protocol.ts";
export { requestSnapshot, type RequestSnapshotOptions } from "./client.ts";
