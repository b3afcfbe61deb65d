/**
 * snapshots: content-addressed layers, image manifests over them, and the
 * built-in base image `node`. A sandbox root is an overlay whose lower dirs
 * are imageLayerPaths(); this module never mounts anything itself.
 */
export { LayerStore, isDigest, treeDigest } from './store.js';
export { readImage, writeImage, listImages, imageLayerPaths, type Image } from './image.js';
export { ensureNodeImage, NODE_IMAGE, type NodeImageOptions, type ExtraFile } from './base-node.js';
