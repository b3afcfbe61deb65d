/**
 * Turning a module into the fetch handler the runtime serves: from a file (`--module`, or a load
 * request's `path`) or from source bytes the host sent, evaluated from memory (source-module.ts).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { evaluateSource } from './source-module.js';
import type { ScheduledHandler } from './scheduled.js';
import type { FetchHandler } from './serve.js';
import type { LoadRequest } from './protocol.js';

/** A module that did not load, or has neither handler: the runtime's answer, or its exit. */
export class ModuleError extends Error {}

/** A load request the runtime cannot act on (answered 400). */
export class BadLoadRequest extends Error {}

/** A module's handlers. A module with only scheduled() gets a fetch handler that answers 501. */
export interface Handlers {
  handler: FetchHandler;
  scheduled: ScheduledHandler | null;
}

export interface Loaded extends Handlers {
  env: Record<string, unknown>;
  /** Where it was imported from. */
  module: string;
}

const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$/;

type Namespace = { default?: { fetch?: unknown; scheduled?: unknown } };

/** Imports the file `file` (node's own loader: its imports resolve beside it), or evaluates
 * `source` named `file`; the module's handlers. */
export async function importModule(file: string, source?: string): Promise<Handlers> {
  let mod: Namespace;
  try {
    mod = (source === undefined ? await import(pathToFileURL(path.resolve(file)).href) : await evaluateSource(source, file)) as Namespace;
  } catch (err) {
    throw new ModuleError(`cannot load module '${file}': ${err instanceof Error ? err.message : String(err)}`);
  }
  const worker = mod.default;
  const hasFetch = typeof worker?.fetch === 'function';
  const hasScheduled = typeof worker?.scheduled === 'function';
  if (!worker || (!hasFetch && !hasScheduled)) throw new ModuleError(`module '${file}' has no default export with a fetch() or scheduled() method`);
  const fetch = worker.fetch as FetchHandler;
  const scheduled = worker.scheduled as ScheduledHandler;
  return {
    handler: hasFetch ? (request, env, ctx) => fetch.call(worker, request, env, ctx) : noFetch,
    scheduled: hasScheduled ? (event, env, ctx) => scheduled.call(worker, event, env, ctx) : null,
  };
}

/** A module with only scheduled(): every HTTP request is a 501, and the function runs on. */
const noFetch: FetchHandler = () =>
  new Response('this function has no fetch() handler: it runs only on its cron triggers\n', { status: 501, headers: { 'content-type': 'text/plain; charset=utf-8' } });

/** Checks a load request's shape; throws BadLoadRequest naming what is wrong. */
export function parseLoadRequest(body: string): LoadRequest {
  let req: unknown;
  try {
    req = JSON.parse(body);
  } catch {
    throw new BadLoadRequest('the load request is not JSON');
  }
  if (!isObject(req)) throw new BadLoadRequest('the load request is not a JSON object');
  const { source, name, path: file, env, needsScheduled } = req as Record<string, unknown>;
  if ((source === undefined) === (file === undefined)) throw new BadLoadRequest("the load request needs exactly one of 'source' and 'path'");
  if (source !== undefined && typeof source !== 'string') throw new BadLoadRequest("'source' is not a string");
  if (file !== undefined && (typeof file !== 'string' || !path.isAbsolute(file))) throw new BadLoadRequest("'path' is not an absolute path");
  if (name !== undefined && (typeof name !== 'string' || !FILE_NAME.test(name))) throw new BadLoadRequest("'name' is not a plain file name");
  if (env !== undefined && !isObject(env)) throw new BadLoadRequest("'env' is not a JSON object");
  if (needsScheduled !== undefined && typeof needsScheduled !== 'boolean') throw new BadLoadRequest("'needsScheduled' is not a boolean");
  return req as LoadRequest;
}

/** Imports what `req` names. Throws ModuleError for a module that does not load. */
export async function load(req: LoadRequest): Promise<Loaded> {
  const env = req.env ?? {};
  const module = req.source === undefined ? (req.path as string) : (req.name ?? 'worker.mjs');
  const handlers = await importModule(module, req.source);
  if (req.needsScheduled && !handlers.scheduled) throw new ModuleError(`module '${module}' has no scheduled() method in its default export, and the function has cron triggers`);
  return { ...handlers, env, module };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
