/**
 * `warren run` arguments, parsed into plain data before anything acts (bubblewrap's rule).
 * Options come before the command, as with `docker run`; `--` or the first non-option ends them.
 */
import { WarrenError } from '../lib/errors.js';
import { parseSize } from '../lib/size.js';

export interface RunArgs {
  image: string;
  memoryBytes?: number;
  cpus?: number;
  pids?: number;
  tmpfsBytes?: number;
  hostname?: string;
  env: Record<string, string>;
  interactive: boolean;
  workdir?: string;
  volumes: Array<{ src: string; dst: string; readonly: boolean }>;
  command: string[];
}

const WITH_VALUE = new Set(['--image', '--memory', '-m', '--cpus', '--pids', '--tmpfs', '--hostname', '-h', '--env', '-e', '--workdir', '-w', '--volume', '-v']);

function bad(message: string): never {
  throw new WarrenError('WARREN_ARG_INVALID', message);
}

function positiveNumber(text: string, what: string, integer: boolean): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    bad(`invalid ${what} '${text}': expected a positive ${integer ? 'integer' : 'number'}`);
  }
  return n;
}

function parseVolume(text: string): RunArgs['volumes'][number] {
  const [src = '', dst = '', mode = 'rw', ...rest] = text.split(':');
  if (!src.startsWith('/') || !dst.startsWith('/') || rest.length || !['ro', 'rw'].includes(mode)) {
    bad(`invalid volume '${text}': expected /host/path:/sandbox/path[:ro]`);
  }
  return { src, dst, readonly: mode === 'ro' };
}

export function parseRunArgs(argv: readonly string[]): RunArgs {
  const out: RunArgs = { image: 'node', env: {}, interactive: false, volumes: [], command: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    let arg = argv[i] as string;
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    if (arg === '-i' || arg === '--interactive') {
      out.interactive = true;
      continue;
    }
    if (!WITH_VALUE.has(arg)) bad(`unknown option '${arg}'`);
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) bad(`option '${arg}' needs a value`);
    }
    switch (arg) {
      case '--image': out.image = value; break;
      case '--memory': case '-m': out.memoryBytes = parseSize(value, 'memory limit'); break;
      case '--cpus': out.cpus = positiveNumber(value, 'cpus', false); break;
      case '--pids': out.pids = positiveNumber(value, 'pids limit', true); break;
      case '--tmpfs': out.tmpfsBytes = parseSize(value, 'tmpfs size'); break;
      case '--hostname': case '-h': out.hostname = value; break;
      case '--workdir': case '-w': if (!value.startsWith('/')) bad(`invalid workdir '${value}': expected an absolute path`); out.workdir = value; break;
      case '--volume': case '-v': out.volumes.push(parseVolume(value)); break;
      case '--env': case '-e': {
        const k = value.indexOf('=');
        const key = k < 0 ? value : value.slice(0, k);
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) bad(`invalid env '${value}': expected KEY=VALUE`);
        // `-e KEY` alone passes the caller's value, as docker does
        const v = k < 0 ? process.env[key] : value.slice(k + 1);
        if (v !== undefined) out.env[key] = v;
        break;
      }
    }
  }
  out.command = argv.slice(i) as string[];
  if (out.command.length === 0) bad('no command given: warren run [options] -- COMMAND [ARGS...]');
  if (out.hostname !== undefined && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(out.hostname)) bad(`invalid hostname '${out.hostname}'`);
  return out;
}
