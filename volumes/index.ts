/**
 * volumes: named storage for `warren run -v NAME:/path` that outlives sandboxes, capped in bytes
 * and inodes by an ext4 image (store.ts), mounted once on the host while sandboxes use it and
 * bound into each idmapped (use.ts). It mounts and locks; the sandbox layer only binds.
 */
export {
  checkVolumeName, listVolumes, readVolume, volumeCap, volumeImage, volumeUsedBytes, DEFAULT_VOLUME_BYTES, MIN_VOLUME_BYTES, MAX_VOLUME_BYTES,
  type Volume,
} from './store.js';
export { createVolume, useVolume, removeVolume, sweepVolumeMounts, volumeUsers, type VolumeDirs, type VolumeUse, type VolumeUser } from './use.js';
