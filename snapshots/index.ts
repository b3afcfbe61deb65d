/**
 * snapshots: content-addressed layers, image manifests over them, the built-in base image `node`,
 * function bundles (a layer holding one module), tarball import and layer GC. A sandbox root is
 * an overlay whose lower dirs are imageLayerPaths(); this module mounts nothing itself but a kept
 * sandbox's image, read-only, while commit copies it.
 */
export { LayerStore, isDigest, treeDigest } from './store.js';
export { readImage, writeImage, listImages, removeImage, imageUsers, imageLayerPaths, checkImageName, type Image } from './image.js';
export { ensureNodeImage, NODE_IMAGE, type NodeImageOptions, type ExtraFile } from './base-node.js';
export { importImage, DEFAULT_MAX_IMPORT_BYTES, type ImportOptions, type ImportResult } from './import.js';
export { putBundle, readBundle, bundlePath, BUNDLE_FILE, type StoredBundle } from './bundles.js';
export { collectLayers, referencedLayers, LAYER_GC_GRACE_MS, type LayerGcOptions, type LayerGcReport } from './gc.js';
export { claimKept, listKept, removeKept, sweepKeptMounts, type Kept, type KeptLock } from './kept.js';
export { commitKept } from './commit.js';
