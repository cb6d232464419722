/**
 * The data volume check behind wgsync-ebs.
 *
 * @module
 */
export {
  ensureVolumeMounted,
  type EnsureVolumeOptions,
  VolumeError,
} from "./volume.ts";
export { findMount, type MountEntry, parseFindmnt } from "./findmnt.ts";
