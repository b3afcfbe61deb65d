/**
 * The control API seen from a CLI command: one method per route (router/control-api.ts lists
 * them), JSON in and out. An error answer becomes the server's own WarrenError (same code, same
 * message), so `warren deploy` prints what the server said; a server that cannot be reached is
 * WARREN_CLIENT_UNREACHABLE naming its URL.
 */
import { ERROR_CODES, type ErrorCode } from '../lib/error-codes.js';
import { WarrenError } from '../lib/errors.js';
import type { DeploySpec, FunctionInfo, LogLine, SandboxInfo, VersionInfo } from '../router/control.js';
import type { Connection } from './connection.js';

/** A deploy's body as the API takes it (limits in the API's units: "128m", timeout_ms...). */
export interface DeployBody {
  module: string;
  vars?: Record<string, string>;
  limits?: { memory?: string | number; cpus?: number; timeout_ms?: number; concurrency?: number };
  egress?: DeploySpec['egress'];
  crons?: string[];
}

/** A function as the control API shows it: FunctionInfo and its data-plane URL (the router adds
 * it; the function service does not know where it is served). */
export type FunctionAnswer = FunctionInfo & { url: string };

export interface Released {
  name: string;
  version: number;
  url: string;
}

export class ControlClient {
  readonly #conn: Connection;

  constructor(conn: Connection) {
    this.#conn = conn;
  }

  get url(): string {
    return this.#conn.url;
  }

  get dataUrl(): string | undefined {
    return this.#conn.dataUrl;
  }

  deploy(name: string, body: DeployBody): Promise<Released & Partial<VersionInfo>> {
    return this.#json('PUT', `/v1/functions/${enc(name)}`, body);
  }

  async list(): Promise<FunctionAnswer[]> {
    return (await this.#json<{ functions: FunctionAnswer[] }>('GET', '/v1/functions')).functions;
  }

  get(name: string): Promise<FunctionAnswer> {
    return this.#json('GET', `/v1/functions/${enc(name)}`);
  }

  async remove(name: string): Promise<void> {
    await this.#send('DELETE', `/v1/functions/${enc(name)}`);
  }

  async versions(name: string): Promise<VersionInfo[]> {
    return (await this.#json<{ versions: VersionInfo[] }>('GET', `/v1/functions/${enc(name)}/versions`)).versions;
  }

  rollback(name: string, version?: number): Promise<Released> {
    return this.#json('POST', `/v1/functions/${enc(name)}/rollback`, version === undefined ? undefined : { version });
  }

  async putSecret(name: string, key: string, value: string): Promise<void> {
    await this.#send('PUT', `/v1/functions/${enc(name)}/secrets/${enc(key)}`, value, 'application/octet-stream');
  }

  async deleteSecret(name: string, key: string): Promise<void> {
    await this.#send('DELETE', `/v1/functions/${enc(name)}/secrets/${enc(key)}`);
  }

  async secretNames(name: string): Promise<string[]> {
    return (await this.#json<{ secrets: string[] }>('GET', `/v1/functions/${enc(name)}/secrets`)).secrets;
  }

  async sandboxes(): Promise<SandboxInfo[]> {
    return (await this.#json<{ sandboxes: SandboxInfo[] }>('GET', '/v1/sandboxes')).sandboxes;
  }

  /** The function's log lines; with `follow`, then each new one until `signal` aborts. */
  async *logs(name: string, opts: { follow?: boolean; signal?: AbortSignal } = {}): AsyncIterable<LogLine> {
    const res = await this.#send('GET', `/v1/functions/${enc(name)}/logs${opts.follow ? '?follow=1' : ''}`, undefined, undefined, opts.signal);
    if (res.body === null) return;
    const decoder = new TextDecoder();
    let rest = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        rest += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, nl);
          rest = rest.slice(nl + 1);
          if (line.trim() !== '') yield JSON.parse(line) as LogLine;
        }
      }
    } catch (err) {
      if (opts.signal?.aborted) return;
      throw err;
    }
  }

  async #json<T>(method: string, route: string, body?: unknown): Promise<T> {
    const res = await this.#send(method, route, body === undefined ? undefined : JSON.stringify(body), 'application/json');
    return (await res.json()) as T;
  }

  async #send(method: string, route: string, body?: string, contentType?: string, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#conn.token}` };
    if (contentType !== undefined && body !== undefined) headers['content-type'] = contentType;
    let res: Response;
    try {
      res = await fetch(this.#conn.url + route, { method, headers, body, signal });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new WarrenError('WARREN_CLIENT_UNREACHABLE', `cannot reach the warren control API at ${this.#conn.url}: ${causeOf(err)}`, { cause: err });
    }
    if (res.ok) return res;
    throw await answerError(res);
  }
}

/** A server's error answer ({error, code, fault}) as the WarrenError it was on the server. */
async function answerError(res: Response): Promise<WarrenError> {
  const text = await res.text().catch(() => '');
  let parsed: { error?: unknown; code?: unknown } = {};
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    // not warren's JSON (a proxy's page): the status says it
  }
  const message = typeof parsed.error === 'string' ? parsed.error : `the control API answered ${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`;
  const code = typeof parsed.code === 'string' && parsed.code in ERROR_CODES ? (parsed.code as ErrorCode) : 'WARREN_CLIENT_RESPONSE';
  return new WarrenError(code, message);
}

function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

const enc = encodeURIComponent;
