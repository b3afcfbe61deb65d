/**
 * nftables in process, through libnftables (the library the `nft` tool is a front for, shipped
 * with it by Debian's nftables package), bound with koffi as libseccomp is. A script given to
 * nft_run_cmd_from_buffer is parsed and committed as one transaction, exactly as `nft -f -`
 * does; its output and errors are the text nft would print.
 *
 * Why not the tool: each `nft` run is a fork of the warren process and an exec. Measured on the
 * 2-core VM under load 4-6, `nft list tables` took 60-210 ms of wall time and ~35 ms of CPU; the
 * serving warren ran one every second (its check that the table is still there), one per start of
 * a function with egress (150-460 ms of a start at load 6) and one per end of such a sandbox.
 *
 * Not loadable (no library, an ABI this binding does not know): null, and nftables.ts runs the
 * tool as before.
 */
import { createRequire } from 'node:module';
import type * as koffiApi from 'koffi';

/** libnftables' NFT_CTX_OUTPUT_JSON: output as JSON, as `nft -j` prints it. */
const OUTPUT_JSON = 1 << 4;

export interface Libnftables {
  /** Runs `script` (one transaction); its output, or throws NftFailed with nft's messages. */
  run(script: string, opts?: { json?: boolean }): string;
}

/** What nft printed on its error stream for a script that failed. */
export class NftFailed extends Error {
  override name = 'NftFailed';
}

let loaded: Libnftables | null | undefined;

/** The library, loaded on first use; null when it cannot be. */
export function libnftables(): Libnftables | null {
  if (loaded === undefined) loaded = load();
  return loaded;
}

function load(soname = 'libnftables.so.1'): Libnftables | null {
  let koffi: typeof koffiApi;
  try {
    koffi = createRequire(import.meta.url)('koffi') as typeof koffiApi;
    const lib = koffi.load(soname);
    // an anonymous type: koffi registers named ones process-wide
    const ctxType = koffi.pointer(koffi.opaque());
    const fn = {
      ctxNew: lib.func('nft_ctx_new', ctxType, ['uint32_t']),
      bufferOutput: lib.func('nft_ctx_buffer_output', 'int', [ctxType]),
      bufferError: lib.func('nft_ctx_buffer_error', 'int', [ctxType]),
      output: lib.func('nft_ctx_get_output_buffer', 'str', [ctxType]),
      error: lib.func('nft_ctx_get_error_buffer', 'str', [ctxType]),
      getFlags: lib.func('nft_ctx_output_get_flags', 'uint', [ctxType]),
      setFlags: lib.func('nft_ctx_output_set_flags', 'void', [ctxType, 'uint']),
      runBuffer: lib.func('nft_run_cmd_from_buffer', 'int', [ctxType, 'str']),
    };
    // one context for the process: its commands run one at a time (the calls are synchronous)
    const ctx = fn.ctxNew(0) as unknown;
    if (!ctx || fn.bufferOutput(ctx) !== 0 || fn.bufferError(ctx) !== 0) return null;
    const plain = fn.getFlags(ctx) as number;
    return {
      run(script, opts = {}) {
        fn.setFlags(ctx, opts.json ? plain | OUTPUT_JSON : plain);
        const rc = fn.runBuffer(ctx, script) as number;
        // each read takes the buffer's text and empties it for the next command
        const out = (fn.output(ctx) as string | null) ?? '';
        const err = (fn.error(ctx) as string | null) ?? '';
        if (rc !== 0) throw new NftFailed(err.trim() || `nft failed (${rc})`);
        return out;
      },
    };
  } catch {
    return null;
  }
}
