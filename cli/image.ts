/**
 * `warren image import|ls|rm|gc`: images from root filesystem tarballs, and
 * their housekeeping. Arguments are parsed into plain data before anything
 * acts; every mistake is a WARREN_ARG_INVALID that main prints (exit 125).
 */
import { defaultDirs } from '../lib/dirs.js';
import { WarrenError } from '../lib/errors.js';
import { formatMiB, parseSize } from '../lib/size.js';
import { parseOptions } from './options.js';
import { registryBundleDigests } from '../registry/index.js';
import { layersInUse } from '../sandbox/index.js';
import { collectLayers, importImage, LAYER_GC_GRACE_MS, LayerStore, listImages, removeImage, type Image } from '../snapshots/index.js';

const COMMANDS = 'import, ls, rm or gc';

function bad(message: string): never {
  throw new WarrenError('WARREN_ARG_INVALID', message);
}

interface Parsed {
  readonly flags: Set<string>;
  readonly values: Map<string, string>;
  readonly positionals: string[];
}

/** Options anywhere before `--`; exactly `count` positionals, named in `usage` for the error. */
function parse(argv: readonly string[], usage: string, count: number, flags: readonly string[], values: readonly string[] = []): Parsed {
  const same = (names: readonly string[]) => Object.fromEntries(names.map((n) => [n, n]));
  const o = parseOptions(argv, usage, { min: count, max: count }, { switches: same(flags), values: same(values) });
  return { flags: o.switches, values: new Map([...o.values].map(([k, v]) => [k, v.at(-1) as string])), positionals: o.positionals };
}

function needRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new WarrenError('WARREN_HOST_NOT_ROOT', `warren image ${what} needs root (run it with sudo)`);
}

export async function image(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'import': return importCommand(rest);
    case 'ls': return ls(rest);
    case 'rm': return rm(rest);
    case 'gc': return gc(rest);
    case undefined: return bad(`warren image needs a command: ${COMMANDS}`);
    default: return bad(`unknown image command '${command}': expected ${COMMANDS}`);
  }
}

async function importCommand(argv: readonly string[]): Promise<number> {
  const args = parse(argv, 'warren image import [--max-size SIZE] NAME FILE', 2, [], ['--max-size']);
  const max = args.values.get('--max-size');
  const maxBytes = max === undefined ? undefined : parseSize(max, 'maximum size');
  const [name, file] = args.positionals as [string, string];
  needRoot('import');
  const start = performance.now();
  const r = await importImage(defaultDirs().state, name, file, { maxBytes });
  const seconds = ((performance.now() - start) / 1000).toFixed(2);
  process.stdout.write(`imported '${name}': ${r.entries} entries, ${formatMiB(r.bytes)} in ${seconds} s, layer ${r.image.layers[0]}\n`);
  return 0;
}

interface Row {
  readonly name: string;
  readonly layers: readonly string[];
  /** Bytes on disk of its layers (shared layers count in each image); null when a layer is missing. */
  readonly size: number | null;
  readonly created: string;
}

async function row(store: LayerStore, image: Image): Promise<Row> {
  let size: number | null = 0;
  for (const digest of image.layers) {
    if (!store.has(digest)) {
      size = null;
      break;
    }
    size += await store.usage(digest);
  }
  return { name: image.name, layers: image.layers, size, created: image.created };
}

async function ls(argv: readonly string[]): Promise<number> {
  const args = parse(argv, 'warren image ls [--json]', 0, ['--json']);
  needRoot('ls');
  const state = defaultDirs().state;
  const store = new LayerStore(state);
  const rows: Row[] = [];
  for (const image of listImages(state)) rows.push(await row(store, image));
  if (args.flags.has('--json')) {
    process.stdout.write(`${JSON.stringify(rows)}\n`);
    return 0;
  }
  const table = [
    ['NAME', 'LAYERS', 'SIZE', 'CREATED'],
    ...rows.map((r) => [r.name, String(r.layers.length), r.size === null ? 'missing layer' : formatMiB(r.size), r.created.replace(/\.\d+Z$/, 'Z')]),
  ];
  const widths = [0, 1, 2].map((c) => Math.max(...table.map((cells) => (cells[c] as string).length)));
  for (const cells of table) {
    process.stdout.write(`${cells.map((cell, c) => (c < 3 ? cell.padEnd((widths[c] as number) + 3) : cell)).join('')}\n`);
  }
  return 0;
}

async function rm(argv: readonly string[]): Promise<number> {
  const args = parse(argv, 'warren image rm NAME', 1, []);
  const [name] = args.positionals as [string];
  needRoot('rm');
  await removeImage(defaultDirs().state, name);
  process.stdout.write(`removed image '${name}' (its layers go with the next 'warren image gc')\n`);
  return 0;
}

async function gc(argv: readonly string[]): Promise<number> {
  const args = parse(argv, 'warren image gc [--now]', 0, ['--now']);
  needRoot('gc');
  const graceMs = args.flags.has('--now') ? 0 : LAYER_GC_GRACE_MS;
  const dirs = defaultDirs();
  // function versions' bundles, read before the layers are listed (a bundle put after is in the grace)
  const keep = registryBundleDigests(dirs.state);
  // the layers of sandboxes running an image removed since they started: no manifest names them
  const report = await collectLayers(dirs.state, { graceMs, inUse: layersInUse(dirs.run), keep });
  for (const digest of report.removed) process.stdout.write(`removed layer ${digest}\n`);
  let summary = `removed ${report.removed.length} layers, ${report.temps} temp dirs`;
  if (report.mounted.length > 0) summary += `; kept ${report.mounted.length} unreferenced layers that running sandboxes use`;
  if (report.young.length > 0) {
    summary += `; kept ${report.young.length} unreferenced layers younger than ${LAYER_GC_GRACE_MS / 1000} s (an import may be writing its manifest; --now removes them)`;
  }
  process.stdout.write(`${summary}\n`);
  return 0;
}
