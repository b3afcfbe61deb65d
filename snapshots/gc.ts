/**
 * Layer GC: removes the layers nothing references, and the temp dirs of
 * writers that died. It runs while imports may run, which write in this
 * order (see LayerStore.add and importImage):
 *
 *   temp dir filled -> touch + rename to layers/<digest> -> manifest written
 *
 * A temp dir is never taken (sweepTemp spares live writers). The window
 * after the rename and before the manifest is covered by a grace: a layer
 * published (or reused) less than LAYER_GC_GRACE_MS ago is kept, since its
 * manifest may be a moment away. 60 s is far above the time one manifest
 * write takes, so only a writer stopped in between (SIGSTOP, a hung disk)
 * could lose its layer, and then its `warren run` fails loudly with a
 * missing layer instead of running something else.
 *
 * A layer no manifest names may still be a running sandbox's lower dir
 * (`warren image rm` does not wait for them): the caller passes those dirs
 * as `inUse`, and they stay whatever their age.
 */
import { realPath } from '../lib/real-path.js';
import { listImages } from './image.js';
import { listKept } from './kept.js';
import { LayerStore } from './store.js';

export const LAYER_GC_GRACE_MS = 60_000;

export interface LayerGcOptions {
  /** Keep unreferenced layers younger than this; 0 removes them at once (unsafe with a concurrent import). */
  readonly graceMs?: number;
  /**
   * Layer dirs (real paths) that running sandboxes have mounted: kept whatever the manifests say,
   * since `warren image rm` does not wait for the sandboxes of that image to end. The caller
   * reads them where sandboxes record them (sandbox layersInUse); this module does not know.
   */
  readonly inUse?: ReadonlySet<string>;
  /**
   * Digests something outside this module names, kept like those a manifest names: the bundle
   * layers of function versions (the caller reads them from the registry, which snapshots/ does
   * not import). Read them before calling: a layer published after that read is in the grace.
   */
  readonly keep?: ReadonlySet<string>;
}

export interface LayerGcReport {
  /** Digests removed. */
  readonly removed: string[];
  /** Unreferenced digests kept because they are younger than the grace. */
  readonly young: string[];
  /** Digests no manifest names, kept because a running sandbox has them mounted. */
  readonly mounted: string[];
  /** Temp dirs of dead writers removed. */
  readonly temps: number;
}

/**
 * Every layer something still needs: those the image manifests and kept sandboxes name, and
 * `keep` (function versions' bundles). An unreadable manifest stops GC (listImages throws): it
 * could not tell which layers that image needs.
 */
export function referencedLayers(stateDir: string, keep: Iterable<string> = []): Set<string> {
  // a kept sandbox's changes sit on the layers it ran on, even after its image is removed
  return new Set([...listImages(stateDir).flatMap((image) => image.layers), ...listKept(stateDir).flatMap((k) => k.layers), ...keep]);
}

export async function collectLayers(stateDir: string, opts: LayerGcOptions = {}): Promise<LayerGcReport> {
  const graceMs = opts.graceMs ?? LAYER_GC_GRACE_MS;
  const store = new LayerStore(stateDir);
  // Manifests before layers: a layer published after this read is inside the grace.
  const referenced = referencedLayers(stateDir, opts.keep);
  const temps = await store.sweepTemp();
  const inUse = opts.inUse ?? new Set<string>();
  const removed: string[] = [];
  const young: string[] = [];
  const mounted: string[] = [];
  for (const digest of await store.list()) {
    if (referenced.has(digest)) continue;
    if (inUse.has(realPath(store.path(digest)))) mounted.push(digest);
    else if (await store.remove(digest, graceMs)) removed.push(digest);
    else young.push(digest);
  }
  return { removed, young, mounted, temps };
}


