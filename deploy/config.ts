/**
 * A project as `warren deploy` sees it: its config file (config-file.ts) read into plain data,
 * with `--env NAME` applied as wrangler applies it. Wrangler's rules, from its config schema
 * (`@inheritable` in workers-sdk's environment.ts):
 *   - inherited by an [env.NAME] section unless it sets its own: main, compatibility_date,
 *     triggers, limits, alias (and warren's egress); `name` too, as wrangler names an
 *     environment's worker "<name>-<NAME>" unless the section sets `name`;
 *   - not inherited: vars, define and every binding; a section has only its own.
 * A binding warren does not have is refused, naming it; Cloudflare settings with no meaning here
 * (routes, account_id, observability...) are ignored and listed in `notes`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { errnoOf, WarrenError } from '../lib/errors.js';
import { CONFIG_FILES, findConfigFile, type ConfigFile } from './config-file.js';
import { parseLimits, type ProjectLimits } from './limits.js';

export interface Project {
  /** The project's dir: where the config file is, and where node_modules are looked up from. */
  dir: string;
  configFile?: string;
  /** The function's name, if the config or --env gave one. */
  name?: string;
  /** The entry module, absolute. */
  main: string;
  vars: Record<string, string>;
  /** esbuild's define (wrangler's `define`): identifiers replaced at build time. */
  define: Record<string, string>;
  alias: Record<string, string>;
  /** Accepted and recorded; warren runs Node, so it changes nothing. */
  compatibilityDate?: string;
  crons: string[];
  limits: ProjectLimits;
  egress?: 'none' | 'public' | string[];
  /** What was read but means nothing here (printed on a terminal, listed in --json). */
  notes: string[];
}

/** Workers bindings: each names a Cloudflare service warren does not provide. */
const BINDINGS: Record<string, string> = {
  kv_namespaces: 'Workers KV',
  d1_databases: 'D1 databases',
  r2_buckets: 'R2 buckets',
  durable_objects: 'Durable Objects',
  services: 'service bindings',
  queues: 'Queues',
  analytics_engine_datasets: 'Analytics Engine',
  ai: 'Workers AI',
  vectorize: 'Vectorize',
  hyperdrive: 'Hyperdrive',
  browser: 'Browser Rendering',
  dispatch_namespaces: 'dispatch namespaces (Workers for Platforms)',
  workflows: 'Workflows',
  send_email: 'Email sending',
  mtls_certificates: 'mTLS certificates',
  assets: 'static assets',
  site: 'Workers Sites',
  tail_consumers: 'Tail Workers',
  version_metadata: 'version metadata',
  pipelines: 'Pipelines',
  containers: 'Containers',
  secrets_store_secrets: 'Secrets Store',
  ratelimits: 'rate limiting bindings',
  images: 'Images',
  unsafe: 'unsafe bindings',
  wasm_modules: 'wasm module bindings',
  text_blobs: 'text blob bindings',
  data_blobs: 'data blob bindings',
  logfwdr: 'logfwdr',
  vpc_services: 'VPC services',
  worker_loaders: 'Worker Loaders',
};

/** Wrangler settings for Cloudflare's platform: read, ignored, and said so. */
const IGNORED = new Set([
  '$schema', 'account_id', 'workers_dev', 'preview_urls', 'route', 'routes', 'compatibility_flags', 'observability',
  'logpush', 'placement', 'upload_source_maps', 'usage_model', 'send_metrics', 'minify', 'keep_vars', 'zone_id', 'dev',
  'keep_names', 'tsconfig', 'build', 'no_bundle', 'rules', 'find_additional_modules', 'base_dir', 'preserve_file_names',
  'node_compat', 'legacy_env', 'jsx_factory', 'jsx_fragment', 'first_party_worker', 'migrations', 'cloudchamber',
]);

const INHERITED = ['main', 'compatibility_date', 'triggers', 'limits', 'alias', 'egress'] as const;
const OWN = ['name', 'vars', 'define'] as const;
const KNOWN = new Set<string>([...INHERITED, ...OWN, 'env']);

export interface LoadOptions {
  /** `--env NAME`: the [env.NAME] section. */
  env?: string;
  cwd?: string;
}

/** The project at `target` (a dir, or an entry file; the current dir if undefined). */
export function loadProject(target: string | undefined, opts: LoadOptions = {}): Project {
  const given = path.resolve(opts.cwd ?? process.cwd(), target ?? '.');
  let stat: fs.Stats;
  try {
    stat = fs.statSync(given);
  } catch (err) {
    throw new WarrenError('WARREN_CONFIG_NOT_FOUND', `'${target ?? given}' ${errnoOf(err) === 'ENOENT' ? 'does not exist' : `cannot be read: ${(err as Error).message}`}`, { cause: err });
  }
  const entry = stat.isDirectory() ? undefined : given;
  const dir = entry ? path.dirname(entry) : given;
  const file = findConfigFile(dir);
  if (file === undefined) {
    if (entry === undefined) {
      throw new WarrenError('WARREN_CONFIG_NOT_FOUND', `no ${CONFIG_FILES.join(', ')} in '${dir}': give the entry module (warren deploy src/index.ts --name NAME) or write a warren.toml`);
    }
    if (opts.env !== undefined) throw new WarrenError('WARREN_CONFIG_NOT_FOUND', `--env ${opts.env}: there is no config file in '${dir}' to hold [env.${opts.env}]`);
    return { dir, main: entry, vars: {}, define: {}, alias: {}, crons: [], limits: {}, notes: [] };
  }
  return fromFile(file, dir, entry, opts.env);
}

function fromFile(file: ConfigFile, dir: string, entry: string | undefined, envName: string | undefined): Project {
  const notes: string[] = [];
  const top = file.data;
  checkKeys(file, top, [], notes);
  let section = top;
  let prefix: string[] = [];
  let name = optionalString(file, top, ['name']);
  if (envName !== undefined) {
    const envs = top.env === undefined ? {} : table(file, top.env, ['env']);
    if (!(envName in envs)) {
      const have = Object.keys(envs);
      throw new WarrenError('WARREN_CONFIG_INVALID', `${file.path}: --env ${envName}: there is no [env.${envName}] section (${have.length ? `it has ${have.join(', ')}` : 'it has none'})`);
    }
    prefix = ['env', envName];
    section = table(file, envs[envName], prefix);
    checkKeys(file, section, prefix, notes);
    name = optionalString(file, section, [...prefix, 'name']) ?? (name === undefined ? undefined : `${name}-${envName}`);
  }
  // inherited keys: the section's own, else the top level's
  const pick = (key: (typeof INHERITED)[number]): { value: unknown; at: string[] } =>
    section[key] !== undefined ? { value: section[key], at: [...prefix, key] } : { value: top[key], at: [key] };

  const mainAt = pick('main');
  let main = entry;
  if (main === undefined) {
    if (mainAt.value === undefined) throw new WarrenError('WARREN_CONFIG_INVALID', `${file.path}: no "main": name the entry module (main = "src/index.ts")`);
    main = path.resolve(dir, stringAt(file, mainAt.value, mainAt.at));
    if (!fs.existsSync(main)) throw invalid('WARREN_CONFIG_INVALID', file, mainAt.at, `"main" names '${mainAt.value as string}', which does not exist in '${dir}'`);
  }
  const date = pick('compatibility_date');
  const project: Project = {
    dir,
    configFile: file.path,
    main,
    vars: stringMap(file, section.vars, [...prefix, 'vars'], 'vars reach env as strings (quote it, or JSON-encode an object and JSON.parse it in the worker)'),
    define: stringMap(file, section.define, [...prefix, 'define'], 'define values are JavaScript expressions written as strings'),
    alias: stringMap(file, pick('alias').value, pick('alias').at, 'alias maps a module name to a path'),
    crons: crons(file, pick('triggers')),
    limits: limitsAt(file, pick('limits'), notes),
    notes,
  };
  if (name !== undefined) project.name = name;
  // an unquoted TOML date (compatibility_date = 2024-09-23) is a date, not a string
  if (date.value instanceof Date) project.compatibilityDate = date.value.toISOString().slice(0, 10);
  else if (date.value !== undefined) project.compatibilityDate = stringAt(file, date.value, date.at);
  const egress = pick('egress');
  if (egress.value !== undefined) project.egress = egressAt(file, egress.value, egress.at);
  return project;
}

/** Refuses bindings (and, in warren.toml, unknown keys); notes wrangler's settings it ignores. */
function checkKeys(file: ConfigFile, obj: Record<string, unknown>, at: string[], notes: string[]): void {
  const ignored: string[] = [];
  for (const [key, value] of Object.entries(obj)) {
    if (KNOWN.has(key)) continue;
    if (key in BINDINGS) {
      if (isEmpty(value)) continue;
      const binding = bindingName(value);
      throw invalid(
        'WARREN_CONFIG_UNSUPPORTED',
        file,
        [...at, key],
        `"${[...at, key].join('.')}"${binding ? ` (binding ${binding})` : ''}: warren does not provide ${BINDINGS[key]}; remove it, or reach such a service over fetch`,
      );
    }
    if (file.kind === 'wrangler' && IGNORED.has(key)) {
      ignored.push(key);
      // wrangler runs a custom build before it bundles; warren bundles what is there
      const command = (value as { command?: unknown } | null)?.command;
      if (key === 'build' && typeof command === 'string') notes.push(`build.command is not run: run \`${command}\` before deploying`);
      continue;
    }
    throw invalid('WARREN_CONFIG_INVALID', file, [...at, key], `unknown key "${[...at, key].join('.')}" (warren reads: name, main, compatibility_date, vars, define, alias, triggers, limits, egress, env)`);
  }
  if (ignored.length) notes.push(`${path.basename(file.path)}${at.length ? ` [${at.join('.')}]` : ''}: ignored (Cloudflare settings with no meaning on warren): ${ignored.join(', ')}`);
}

function isEmpty(value: unknown): boolean {
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object' && value !== null) return Object.keys(value).length === 0;
  return value === undefined || value === false;
}

/** 'MY_KV' from [{ binding = "MY_KV" }], { binding = "AI" } or durable_objects.bindings. */
function bindingName(value: unknown): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  if (typeof first !== 'object' || first === null) return undefined;
  const obj = first as Record<string, unknown>;
  if (typeof obj.binding === 'string') return `'${obj.binding}'`;
  if (typeof obj.name === 'string') return `'${obj.name}'`;
  if (Array.isArray(obj.bindings) || Array.isArray(obj.producers)) return bindingName(obj.bindings ?? obj.producers);
  return undefined;
}

function crons(file: ConfigFile, { value, at }: { value: unknown; at: string[] }): string[] {
  if (value === undefined) return [];
  const triggers = table(file, value, at);
  if (triggers.crons === undefined) return [];
  if (!Array.isArray(triggers.crons) || triggers.crons.some((c) => typeof c !== 'string')) {
    throw invalid('WARREN_CONFIG_INVALID', file, [...at, 'crons'], `"${[...at, 'crons'].join('.')}" must be a list of cron expressions, such as ["*/5 * * * *"]`);
  }
  return triggers.crons as string[];
}

function limitsAt(file: ConfigFile, { value, at }: { value: unknown; at: string[] }, notes: string[]): ProjectLimits {
  if (value === undefined) return {};
  try {
    return parseLimits(table(file, value, at), at.join('.'), notes);
  } catch (err) {
    if (err instanceof WarrenError && err.code === 'WARREN_CONFIG_INVALID') throw invalid('WARREN_CONFIG_INVALID', file, at, err.message);
    throw err;
  }
}

function egressAt(file: ConfigFile, value: unknown, at: string[]): 'none' | 'public' | string[] {
  if (value === 'none' || value === 'public') return value;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  throw invalid('WARREN_CONFIG_INVALID', file, at, `"${at.join('.')}" must be "none", "public" or a list of CIDRs`);
}

function stringMap(file: ConfigFile, value: unknown, at: string[], why: string): Record<string, string> {
  if (value === undefined) return {};
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(table(file, value, at))) {
    if (typeof v !== 'string') throw invalid('WARREN_CONFIG_INVALID', file, [...at, key], `"${[...at, key].join('.')}" is ${describeValue(v)}, not a string: ${why}`);
    out[key] = v;
  }
  return out;
}

function describeValue(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'a table' : `a ${typeof v}`;
}

function table(file: ConfigFile, value: unknown, at: string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Date) {
    throw invalid('WARREN_CONFIG_INVALID', file, at, `"${at.join('.')}" must be a table (an object)`);
  }
  return value as Record<string, unknown>;
}

function optionalString(file: ConfigFile, obj: Record<string, unknown>, at: string[]): string | undefined {
  const value = obj[at[at.length - 1] as string];
  return value === undefined ? undefined : stringAt(file, value, at);
}

function stringAt(file: ConfigFile, value: unknown, at: string[]): string {
  if (typeof value !== 'string' || value === '') throw invalid('WARREN_CONFIG_INVALID', file, at, `"${at.join('.')}" must be a non-empty string`);
  return value;
}

/** An error naming the file and the key's line. */
function invalid(code: 'WARREN_CONFIG_INVALID' | 'WARREN_CONFIG_UNSUPPORTED', file: ConfigFile, at: string[], message: string): WarrenError {
  const line = file.lineOf(at);
  return new WarrenError(code, `${file.path}${line === undefined ? '' : `:${line}`}: ${message}`);
}
