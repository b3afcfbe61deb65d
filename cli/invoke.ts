/**
 * `warren invoke NAME [PATH] [-X METHOD] [-H 'K: V']... [--data @file|-|TEXT] [-i] [--fail]`: one
 * request to a function on the data plane, as curl would send it. The function's URL comes from
 * the control API (so an unknown function is refused there, exit 1). The body goes to stdout byte
 * for byte; -i puts the status line and headers before it. As with curl, any answer the function
 * gave is exit 0, 4xx and 5xx included; with --fail an answer of 400 or above is exit 1, or 3 when
 * warren says the fault was its own (x-warren-fault: platform), and the body is still printed.
 */
import fs from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { once } from 'node:events';
import { request } from 'undici';
import { reachableUrl } from '../client/index.js';
import { errnoOf, WarrenError } from '../lib/errors.js';
import { last, parseClientArgs, usageError, type ClientArgs } from './client-args.js';
import { clientMain, connect, helped, printJson } from './client-command.js';
import { EXIT_OK, EXIT_PLATFORM, EXIT_REFUSED } from './exit-codes.js';

export const INVOKE_USAGE = "warren invoke NAME [PATH] [-X METHOD] [-H 'K: V']... [-d|--data @FILE|-|TEXT] [-i] [--fail] [--json] [--server URL] [--token T]";

export type InvokeData = { from: 'file'; path: string } | { from: 'stdin' } | { from: 'text'; text: string };

export interface InvokeArgs {
  args: ClientArgs;
  name: string;
  /** The path and query the function sees, from `/`. */
  path: string;
  method: string;
  headers: Array<[string, string]>;
  data?: InvokeData;
  /** -i: the status line and headers before the body. */
  include: boolean;
  fail: boolean;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function parseInvokeArgs(argv: readonly string[]): InvokeArgs {
  const args = parseClientArgs(argv, INVOKE_USAGE, { min: 1, max: 2 }, {
    switches: { '-i': 'include', '--include': 'include', '--fail': 'fail', '-f': 'fail' },
    values: { '-X': 'method', '--request': 'method', '-H': 'header', '--header': 'header', '-d': 'data', '--data': 'data' },
  });
  const [name = '', rawPath = '/'] = args.positionals;
  const headers = (args.values.get('header') ?? []).map((h): [string, string] => {
    const colon = h.indexOf(':');
    const key = h.slice(0, colon).trim();
    if (colon <= 0 || !TOKEN.test(key)) usageError(`invalid header '${h}': expected 'Name: value'`, INVOKE_USAGE);
    return [key, h.slice(colon + 1).trim()];
  });
  const dataText = last(args, 'data');
  const data: InvokeData | undefined =
    dataText === undefined ? undefined : dataText === '-' ? { from: 'stdin' } : dataText.startsWith('@') ? { from: 'file', path: dataText.slice(1) } : { from: 'text', text: dataText };
  // curl's rule: a body makes it a POST unless told otherwise
  const method = (last(args, 'method') ?? (data ? 'POST' : 'GET')).toUpperCase();
  if (!TOKEN.test(method)) usageError(`invalid method '${method}'`, INVOKE_USAGE);
  if (data && (method === 'GET' || method === 'HEAD')) usageError(`a ${method} request has no body: give -X POST (or PUT...) with --data`, INVOKE_USAGE);
  const path = rawPath.startsWith('/') ? rawPath : `/${rawPath}`;
  return { args, name, path, method, headers, data, include: args.switches.has('include'), fail: args.switches.has('fail') };
}

async function readData(data: InvokeData | undefined): Promise<Buffer | undefined> {
  if (data === undefined) return undefined;
  if (data.from === 'text') return Buffer.from(data.text);
  if (data.from === 'file') {
    try {
      return fs.readFileSync(data.path);
    } catch (err) {
      throw new WarrenError('WARREN_ARG_INVALID', `cannot read '${data.path}' for --data: ${errnoOf(err) ?? (err as Error).message}`, { cause: err });
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The function's URL (ending in /) and the path under it: .../hello/ and /a?b -> .../hello/a?b */
export function invokeUrl(fnUrl: string, path: string): string {
  return fnUrl.replace(/\/+$/, '') + path;
}

export function invoke(argv: readonly string[]): Promise<number> {
  return clientMain(async () => {
    const a = parseInvokeArgs(argv);
    if (helped(a.args, INVOKE_USAGE)) return EXIT_OK;
    const body = await readData(a.data);
    const client = connect(a.args);
    const fn = await client.get(a.name);
    const url = invokeUrl(reachableUrl(fn.url, client.url), a.path);
    let res: Awaited<ReturnType<typeof request>>;
    try {
      // no timeout of ours: the function's own (its limit) ends a request that hangs
      res = await request(url, { method: a.method as 'GET', headers: Object.fromEntries(groupHeaders(a.headers)), body, headersTimeout: 0, bodyTimeout: 0 });
    } catch (err) {
      throw new WarrenError('WARREN_CLIENT_UNREACHABLE', `cannot reach function '${a.name}' at ${url}: ${errnoOf(err) ?? (err as Error).message}`, { cause: err });
    }
    if (a.args.json) {
      const bytes = Buffer.from(await res.body.arrayBuffer());
      printJson({ status: res.statusCode, headers: res.headers, ...bodyField(bytes) });
    } else {
      if (a.include) process.stdout.write(statusBlock(res.statusCode, res.headers));
      for await (const chunk of res.body) {
        if (!process.stdout.write(chunk as Buffer)) await once(process.stdout, 'drain');
      }
    }
    if (!a.fail || res.statusCode < 400) return EXIT_OK;
    process.stderr.write(`warren: function '${a.name}' answered ${res.statusCode} ${STATUS_CODES[res.statusCode] ?? ''}\n`);
    return res.headers['x-warren-fault'] === 'platform' ? EXIT_PLATFORM : EXIT_REFUSED;
  });
}

/** -H given twice for one name sends both values. */
function groupHeaders(headers: ReadonlyArray<[string, string]>): Map<string, string | string[]> {
  const out = new Map<string, string | string[]>();
  for (const [k, v] of headers) {
    const had = out.get(k);
    out.set(k, had === undefined ? v : [...(Array.isArray(had) ? had : [had]), v]);
  }
  return out;
}

function statusBlock(status: number, headers: Record<string, string | string[] | undefined>): string {
  let out = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
  for (const [k, v] of Object.entries(headers)) {
    for (const one of Array.isArray(v) ? v : [v]) if (one !== undefined) out += `${k}: ${one}\r\n`;
  }
  return out + '\r\n';
}

/** A body in JSON: as text when it is UTF-8, else as base64. */
function bodyField(bytes: Buffer): { body: string } | { bodyBase64: string } {
  try {
    return { body: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return { bodyBase64: bytes.toString('base64') };
  }
}
