/**
 * A deploy's JSON body checked for shape into a DeploySpec: a pure function, tested as a table
 * (deploy-spec.test.ts). It refuses unknown fields (a typo like "limit" must not deploy with the
 * defaults silently) and names the field that is wrong. Policy bounds (how much memory a host
 * grants) are the service's to check.
 *
 *   { "module": "<source>", "vars": { "KEY": "value" },
 *     "limits": { "memory": "128m", "cpus": 0.5, "timeout_ms": 30000, "concurrency": 16 },
 *     "egress": "public" | "none" | ["10.0.0.0/8", ...],
 *     "crons": ["0 * * * *", ...] }
 */
import net from 'node:net';
import { isWarrenError, WarrenError } from '../lib/errors.js';
import { parseSize } from '../lib/size.js';
import { ENV_KEY, type DeploySpec, type FunctionEgress, type FunctionLimits } from './control.js';

const FIELDS = new Set(['module', 'vars', 'limits', 'egress', 'crons']);
const LIMIT_FIELDS = new Set(['memory', 'cpus', 'timeout_ms', 'concurrency']);

export function parseDeploySpec(body: unknown): DeploySpec {
  const obj = object(body, 'the deploy');
  unknownFields(obj, FIELDS, 'the deploy');
  if (typeof obj.module !== 'string' || obj.module.trim() === '') invalid(`"module" must be the module's source, a non-empty string`);
  const spec: DeploySpec = { module: obj.module, vars: parseVars(obj.vars), limits: parseLimits(obj.limits) };
  if (obj.egress !== undefined) spec.egress = parseEgress(obj.egress);
  if (obj.crons !== undefined) spec.crons = parseCrons(obj.crons);
  return spec;
}

function parseVars(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  const vars = object(value, '"vars"');
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(vars)) {
    if (!ENV_KEY.test(key)) invalid(`"vars" key '${key}' is not an env name (letters, digits, '_', not starting with a digit)`);
    if (typeof v !== 'string') invalid(`"vars.${key}" must be a string`);
    out[key] = v;
  }
  return out;
}

/** Their shape only: whether each is a schedule croner takes, and how many, the service checks. */
function parseCrons(value: unknown): string[] {
  if (!Array.isArray(value)) invalid(`"crons" must be a list of cron expressions such as ["*/5 * * * *"]`);
  return value.map((cron, i) => {
    if (typeof cron !== 'string' || cron.trim() === '') invalid(`"crons[${i}]" must be a cron expression, not ${JSON.stringify(cron)}`);
    return cron;
  });
}

function parseLimits(value: unknown): Partial<FunctionLimits> {
  if (value === undefined) return {};
  const limits = object(value, '"limits"');
  unknownFields(limits, LIMIT_FIELDS, '"limits"');
  const out: Partial<FunctionLimits> = {};
  if (limits.memory !== undefined) out.memoryBytes = memory(limits.memory);
  if (limits.cpus !== undefined) {
    if (typeof limits.cpus !== 'number' || !Number.isFinite(limits.cpus) || limits.cpus <= 0) invalid(`"limits.cpus" must be a number of cores above 0, such as 0.5`);
    out.cpus = limits.cpus;
  }
  if (limits.timeout_ms !== undefined) out.timeoutMs = positiveInteger(limits.timeout_ms, '"limits.timeout_ms"');
  if (limits.concurrency !== undefined) out.concurrency = positiveInteger(limits.concurrency, '"limits.concurrency"');
  return out;
}

function memory(value: unknown): number {
  if (typeof value === 'number') return positiveInteger(value, '"limits.memory"');
  if (typeof value !== 'string') invalid(`"limits.memory" must be a size such as "128m"`);
  try {
    return parseSize(value, '"limits.memory"');
  } catch (err) {
    if (isWarrenError(err)) throw new WarrenError('WARREN_DEPLOY_INVALID', err.message, { cause: err });
    throw err;
  }
}

function parseEgress(value: unknown): FunctionEgress {
  if (value === 'public' || value === 'none') return value;
  if (!Array.isArray(value)) invalid(`"egress" must be "public", "none" or a list of CIDRs`);
  return value.map((cidr, i) => {
    if (typeof cidr !== 'string' || !isCidr(cidr)) invalid(`"egress[${i}]" must be a CIDR such as "10.1.0.0/16", not ${JSON.stringify(cidr)}`);
    return cidr;
  });
}

/** `a.b.c.d/n` (n <= 32) or `v6/n` (n <= 128); a bare address is a /32 or /128. */
export function isCidr(text: string): boolean {
  const slash = text.indexOf('/');
  const addr = slash === -1 ? text : text.slice(0, slash);
  const family = net.isIP(addr);
  if (family === 0) return false;
  if (slash === -1) return true;
  const bits = text.slice(slash + 1);
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

function positiveInteger(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) invalid(`${what} must be a whole number above 0`);
  return value;
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

function unknownFields(obj: Record<string, unknown>, known: Set<string>, what: string): void {
  const extra = Object.keys(obj).filter((k) => !known.has(k));
  if (extra.length > 0) invalid(`${what} has unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `"${k}"`).join(', ')} (known: ${[...known].join(', ')})`);
}

function invalid(message: string): never {
  throw new WarrenError('WARREN_DEPLOY_INVALID', message);
}
