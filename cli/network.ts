/**
 * `warren network create|ls|rm`: user networks for `warren run --network NAME`, as Docker's
 * user-defined bridge networks (sandbox/network/user-networks.ts). Arguments are parsed into
 * plain data before anything acts; every mistake is a WARREN_ARG_INVALID that main prints.
 */
import { defaultDirs } from '../lib/dirs.js';
import { WarrenError } from '../lib/errors.js';
import { createNetwork, DEFAULT_POOL, NetworkStore, removeNetwork } from '../sandbox/index.js';
import { formatTable, printJson, shortTime } from './client-command.js';
import { parseOptions } from './options.js';

const COMMANDS = 'create, ls or rm';
const CREATE_USAGE = 'warren network create NAME [--subnet CIDR] [--internal]';

function bad(message: string): never {
  throw new WarrenError('WARREN_ARG_INVALID', message);
}

function needRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new WarrenError('WARREN_HOST_NOT_ROOT', `warren network ${what} needs root (run it with sudo)`);
}

export async function network(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'create': return create(rest);
    case 'ls': return ls(rest);
    case 'rm': return rm(rest);
    case undefined: return bad(`warren network needs a command: ${COMMANDS}`);
    default: return bad(`unknown network command '${command}': expected ${COMMANDS}`);
  }
}

async function create(argv: readonly string[]): Promise<number> {
  const o = parseOptions(argv, CREATE_USAGE, { min: 1, max: 1 }, { switches: { '--internal': 'internal' }, values: { '--subnet': 'subnet' } });
  const name = o.positionals[0] as string;
  const subnet = o.values.get('subnet')?.at(-1);
  needRoot('create');
  const pool = process.env.WARREN_NETWORK_POOL || DEFAULT_POOL;
  const record = await createNetwork(defaultDirs(), { name, ...(subnet ? { subnet } : {}), internal: o.switches.has('internal'), pool });
  process.stdout.write(`${record.name} ${record.subnet}${record.internal ? ' internal' : ''}\n`);
  return 0;
}

async function ls(argv: readonly string[]): Promise<number> {
  const o = parseOptions(argv, 'warren network ls [--json]', { min: 0, max: 0 }, { switches: { '--json': 'json' } });
  needRoot('ls');
  const store = new NetworkStore(defaultDirs());
  const rows = store.list().map((r) => ({ ...r, sandboxes: store.inUse(r) }));
  if (o.switches.has('json')) printJson(rows);
  else {
    const table = rows.map((r) => [r.name, r.subnet, r.internal ? 'yes' : 'no', String(r.sandboxes), r.bridge, shortTime(r.created)]);
    process.stdout.write(formatTable(['NAME', 'SUBNET', 'INTERNAL', 'SANDBOXES', 'BRIDGE', 'CREATED'], table));
  }
  return 0;
}

async function rm(argv: readonly string[]): Promise<number> {
  const o = parseOptions(argv, 'warren network rm NAME...', { min: 1, max: Infinity }, {});
  needRoot('rm');
  for (const name of o.positionals) await removeNetwork(defaultDirs(), name);
  return 0;
}
