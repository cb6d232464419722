/**
 * wgsync-ldap's local control socket: the protocol and its client (used by
 * `wgsync-ldap snapshot WORKGROUP` and by wgsync-web's resync button and
 * workgroup pages). The server end is wgsync-ldap's
 * (`lib/wgsync_ldap/control.ts`).
 *
 * @module
 */
export {
  ControlError,
  type ControlRequest,
  formatRequest,
  type ListedMember,
  type ListedWorkgroup,
  MAX_ANSWER_LINE_BYTES,
  MAX_LISTED_WORKGROUPS,
  MAX_MEMBERS,
  MAX_REQUEST_BYTES,
  parseRequest,
  UnknownWorkgroupError,
} from "./protocol.ts";
export {
  type MembersAnswer,
  requestMembers,
  type RequestMembersOptions,
  type RequestOptions,
  requestSnapshot,
  type RequestSnapshotOptions,
  requestWorkgroups,
} from "./client.ts";
