/**
 * `warren deploy` and `warren dev` arguments, parsed into plain data before anything acts, and
 * laid over the project's config (flags win). `--env-file` reads KEY=VALUE lines as dotenv does
 * (# comments, optional quotes); `--var` wins over it.
 */
import fs from 'node:fs';
import type { DeployBody } from '../client/index.js';
import { durationMs, type Project } from '../deploy/index.js';
import { isWarrenError, WarrenError } from '../lib/errors.js';
import { parseOptions } from './options.js';

export interface DeployArgs {
  target?: string;
  name?: string;
  env?: string;
  vars: Record<string, string>;
  envFiles: string[];
  memory?: string;
  cpus?: number;
  timeoutMs?: number;
  concurrency?: number;
  egress?: 'none' | 'public' | string[];
  server?: string;
  token?: string;
  json: boolean;
  help: boolean;
  /** Options of the command's own (dev: --port...), as given. */
  extra: Record<string, string>;
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

const USAGE = 'warren deploy|dev [DIR|ENTRY] [options] (--help)';
const VALUES = ['--name', '--env', '--var', '--env-file', '--memory', '--cpus', '--timeout', '--concurrency', '--egress', '--server', '--token'];

/** `extraFlags`: a command's own options that take a value. The split is cli/options.ts's; each
 * value is checked here. */
export function parseDeployArgs(argv: readonly string[], extraFlags: readonly string[] = []): DeployArgs {
  const spec = {
    switches: { '--json': 'json', '--help': 'help', '-h': 'help' },
    values: Object.fromEntries([...VALUES, ...extraFlags].map((f) => [f, f])),
  };
  const o = parseOptions(argv, USAGE, { min: 0, max: 1 }, spec);
  const last = (flag: string) => o.values.get(flag)?.at(-1);
  const out: DeployArgs = { vars: {}, envFiles: o.values.get('--env-file') ?? [], json: o.switches.has('json'), help: o.switches.has('help'), extra: {} };
  const [target] = o.positionals;
  if (target !== undefined) out.target = target;
  for (const [flag, field] of [['--name', 'name'], ['--env', 'env'], ['--memory', 'memory'], ['--server', 'server'], ['--token', 'token']] as const) {
    const v = last(flag);
    if (v !== undefined) out[field] = v;
  }
  for (const kv of o.values.get('--var') ?? []) {
    const at = kv.indexOf('=');
    const key = at > 0 ? kv.slice(0, at) : '';
    if (!ENV_KEY.test(key)) bad(`--var '${kv}': expected KEY=VALUE with KEY a name (letters, digits, '_')`);
    out.vars[key] = kv.slice(at + 1);
  }
  const cpus = last('--cpus');
  if (cpus !== undefined) {
    const n = Number(cpus);
    if (cpus.trim() === '' || !(n > 0) || !Number.isFinite(n)) bad(`--cpus '${cpus}': expected a number of cores above 0`);
    out.cpus = n;
  }
  const timeout = last('--timeout');
  if (timeout !== undefined) {
    try {
      out.timeoutMs = durationMs(timeout, `--timeout '${timeout}'`);
    } catch (err) {
      if (isWarrenError(err)) bad(err.message);
      throw err;
    }
  }
  const concurrency = last('--concurrency');
  if (concurrency !== undefined) {
    if (!/^\d+$/.test(concurrency) || Number(concurrency) < 1) bad(`--concurrency '${concurrency}': expected a whole number from 1`);
    out.concurrency = Number(concurrency);
  }
  const egress = last('--egress');
  if (egress !== undefined) out.egress = egress === 'none' || egress === 'public' ? egress : egress.split(',').map((c) => c.trim()).filter(Boolean);
  for (const flag of extraFlags) {
    const v = last(flag);
    if (v !== undefined) out.extra[flag] = v;
  }
  return out;
}

/** The function's name and the deploy body: the project's config with the flags over it. */
export function deployRequest(project: Project, args: DeployArgs, code: string): { name: string; body: DeployBody } {
  const name = args.name ?? project.name;
  if (name === undefined) {
    throw new WarrenError('WARREN_CONFIG_INVALID', project.configFile ? `${project.configFile}: no "name": set it, or give --name` : 'no function name: give --name NAME (or write a warren.toml with name = "...")');
  }
  const vars = { ...project.vars };
  for (const file of args.envFiles) Object.assign(vars, readEnvFile(file));
  Object.assign(vars, args.vars);
  const limits: NonNullable<DeployBody['limits']> = {};
  const memory = args.memory ?? project.limits.memory;
  if (memory !== undefined) limits.memory = memory;
  const cpus = args.cpus ?? project.limits.cpus;
  if (cpus !== undefined) limits.cpus = cpus;
  const timeout = args.timeoutMs ?? project.limits.timeoutMs;
  if (timeout !== undefined) limits.timeout_ms = timeout;
  const concurrency = args.concurrency ?? project.limits.concurrency;
  if (concurrency !== undefined) limits.concurrency = concurrency;
  const body: DeployBody = { module: code, vars };
  if (Object.keys(limits).length) body.limits = limits;
  const egress = args.egress ?? project.egress;
  if (egress !== undefined) body.egress = egress;
  // the control API takes "crons" once cron triggers are in; a project without any sends none
  if (project.crons.length) body.crons = project.crons;
  return { name, body };
}

/** KEY=VALUE lines; `export KEY=...`, # comments and blank lines allowed; quotes stripped. */
export function readEnvFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new WarrenError('WARREN_CONFIG_NOT_FOUND', `--env-file: cannot read '${file}': ${(err as Error).message}`, { cause: err });
  }
  const out: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new WarrenError('WARREN_CONFIG_PARSE', `${file}:${i + 1}: expected KEY=VALUE`);
    let value = m[2] as string;
    const q = value[0];
    if ((q === '"' || q === "'") && value.endsWith(q) && value.length >= 2) {
      value = value.slice(1, -1);
      if (q === '"') value = value.replace(/\\n/g, '\n').replace(/\\"/g, '"');
    } else {
      value = value.replace(/\s+#.*$/, '');
    }
    out[m[1] as string] = value;
  });
  return out;
}

function bad(message: string): never {
  throw new WarrenError('WARREN_ARG_INVALID', message);
}
