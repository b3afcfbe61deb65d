/**
 * `warren run` arguments, parsed into plain data before anything acts (bubblewrap's rule).
 * Options come before the command, as with `docker run`; `--` or the first non-option ends them.
 */
import { WarrenError } from '../lib/errors.js';
import { parseSize } from '../lib/size.js';
import type { Egress, Publish } from '../sandbox/index.js';
import { checkVolumeName } from '../volumes/index.js';

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
  /** -v /host:/path: host bind mounts */
  volumes: Array<{ src: string; dst: string; readonly: boolean }>;
  /** -v NAME:/path: named volumes (volumes/), made on first use */
  namedVolumes: Array<{ name: string; dst: string; readonly: boolean }>;
  /** --name N --keep: the sandbox's changes are kept, for `warren commit N IMAGE`; on a user
   * network, the name the other sandboxes reach it by */
  name?: string;
  keep: boolean;
  net: 'none' | 'bridge';
  /** --network NAME (not none or bridge): a user network; `net` is then 'bridge' */
  network?: string;
  /** --network-alias: more names on its network */
  aliases: string[];
  egress: Egress;
  publish: Publish[];
  command: string[];
}

const WITH_VALUE = new Set([
  '--image', '--memory', '-m', '--cpus', '--pids', '--tmpfs', '--hostname', '-h', '--env', '-e', '--workdir', '-w',
  '--volume', '-v', '--net', '--network', '--egress', '--publish', '-p', '--name', '--network-alias',
]);

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

/** As docker's -v: a source with no slash is a volume's name, one with a slash a host path. */
function parseVolume(text: string, out: RunArgs): void {
  const [src = '', dst = '', mode = 'rw', ...rest] = text.split(':');
  if (!dst.startsWith('/') || rest.length || !['ro', 'rw'].includes(mode) || (src.includes('/') && !src.startsWith('/'))) {
    bad(`invalid volume '${text}': expected /host/path:/sandbox/path[:ro] or NAME:/sandbox/path[:ro]`);
  }
  if (src.startsWith('/')) out.volumes.push({ src, dst, readonly: mode === 'ro' });
  else out.namedVolumes.push({ name: checkVolumeName(src), dst, readonly: mode === 'ro' });
}

/** none | public | CIDR,CIDR... */
function parseEgress(text: string): Egress {
  if (text === 'none' || text === 'public') return text;
  const allow = text.split(',').map((c) => c.trim());
  for (const c of allow) {
    if (!/^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/.test(c)) bad(`invalid egress '${text}': expected none, public or a list of CIDRs`);
  }
  return { allow };
}

/** HOSTPORT:PORT[/tcp|/udp], as docker's -p */
function parsePublish(text: string): Publish {
  const m = /^(\d+):(\d+)(?:\/(tcp|udp))?$/.exec(text);
  const hostPort = Number(m?.[1]);
  const port = Number(m?.[2]);
  const ok = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
  if (!m || !ok(hostPort) || !ok(port)) bad(`invalid publish '${text}': expected HOSTPORT:PORT[/tcp|/udp]`);
  return { proto: (m[3] as 'tcp' | 'udp' | undefined) ?? 'tcp', hostPort, port };
}

export function parseRunArgs(argv: readonly string[]): RunArgs {
  const out: RunArgs = { image: 'node', env: {}, interactive: false, keep: false, volumes: [], namedVolumes: [], net: 'none', aliases: [], egress: 'none', publish: [], command: [] };
  let egressGiven = false;
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
    if (arg === '--keep') {
      out.keep = true;
      continue;
    }
    if (!WITH_VALUE.has(arg)) bad(`unknown option '${arg}'`);
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) bad(`option '${arg}' needs a value`);
    }
    switch (arg) {
      case '--image': out.image = value; break;
      case '--name': out.name = value; break;
      case '--memory': case '-m': out.memoryBytes = parseSize(value, 'memory limit'); break;
      case '--cpus': out.cpus = positiveNumber(value, 'cpus', false); break;
      case '--pids': out.pids = positiveNumber(value, 'pids limit', true); break;
      case '--tmpfs': out.tmpfsBytes = parseSize(value, 'tmpfs size'); break;
      case '--hostname': case '-h': out.hostname = value; break;
      case '--workdir': case '-w': if (!value.startsWith('/')) bad(`invalid workdir '${value}': expected an absolute path`); out.workdir = value; break;
      case '--volume': case '-v': parseVolume(value, out); break;
      case '--net': case '--network':
        // anything else names a user network (`warren network create`), checked when it is opened
        if (value === 'host' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(value)) bad(`invalid net '${value}': expected none, bridge or a network's name`);
        out.net = value === 'none' ? 'none' : 'bridge';
        out.network = value === 'none' || value === 'bridge' ? undefined : value;
        break;
      case '--network-alias': out.aliases.push(value); break;
      case '--egress': out.egress = parseEgress(value); egressGiven = true; break;
      case '--publish': case '-p': out.publish.push(parsePublish(value)); break;
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
  if (out.keep && out.name === undefined) bad('--keep needs --name: warren run --name N --keep ...');
  if (out.net === 'none' && (egressGiven || out.publish.length)) bad('--egress and --publish need --net bridge');
  if (out.aliases.length && out.network === undefined) bad('--network-alias needs --network NAME (a network made with warren network create)');
  out.command = argv.slice(i) as string[];
  if (out.command.length === 0) bad('no command given: warren run [options] -- COMMAND [ARGS...]');
  if (out.hostname !== undefined && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(out.hostname)) bad(`invalid hostname '${out.hostname}'`);
  return out;
}
