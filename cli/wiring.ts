/**
 * How the CLI puts a sandbox host and its images together, in one place: `warren run`, the bench
 * and the tests open hosts and build the node image through here, so none of them repeats it.
 * snapshots/ knows nothing of the runtime; it is handed the runtime bundle here.
 */
import { checkUidBase, preflight, SandboxHost, type HostOptions } from '../sandbox/index.js';
import { uidBaseFromEnv } from '../lib/uid-range.js';
import { RUNTIME_IN_IMAGE, runtimeBundle } from '../runtime/index.js';
import { ensureNodeImage as buildNodeImage, imageLayerPaths, NODE_IMAGE, type Image } from '../snapshots/index.js';

/** The built-in `node` image: the host's node, its libraries and warren's runtime bundle. */
export function ensureNodeImage(stateDir: string): Promise<Image> {
  return buildNodeImage(stateDir, { extraFiles: [{ src: runtimeBundle(), dest: RUNTIME_IN_IMAGE }] });
}

/** The overlay lower dirs of an image, top first; the node image is built or refreshed first. */
export async function imageLayers(stateDir: string, image: string = NODE_IMAGE): Promise<string[]> {
  if (image === NODE_IMAGE) await ensureNodeImage(stateDir);
  return imageLayerPaths(stateDir, image);
}

/** A sandbox host, after checking that this machine can run one (kernel, cgroups, root) and that
 * its uid span (the flag's base, WARREN_UID_BASE, or the default) is free on this host. */
export async function openHost(opts: HostOptions): Promise<SandboxHost> {
  preflight();
  const uidBase = opts.uidBase ?? uidBaseFromEnv();
  checkUidBase(uidBase);
  return SandboxHost.open({ ...opts, uidBase });
}

/** What the bench gets instead of wiring its own (bench/scenario.ts HostFactory). */
export const hostFactory = { openHost, imageLayers };
