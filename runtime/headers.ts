/**
 * The Headers global, and a request's headers read without undici (web.ts says why undici is
 * kept unloaded): get() and has() look the name up in node's raw header list as the Fetch
 * standard's Headers would (case-insensitive, every value of the name joined by ', ', a cookie's
 * by '; ', ends trimmed). Anything else (set, append, delete, iteration...) makes undici's
 * Headers from the raw list once, and this one forwards to it from then on.
 *
 * `new Headers(...)` in a function makes undici's; `instanceof Headers` holds for ours and undici's.
 */
import { inspect } from 'node:util';
import { original } from './web.js';

type RealHeaders = typeof globalThis.Headers;

export const realHeaders = original<RealHeaders>('Headers');

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Tab, LF, CR or space: what Headers trims from a value's ends. */
const isSpace = (code: number) => code === 9 || code === 10 || code === 13 || code === 32;

function trimmed(value: string): string {
  return value !== '' && (isSpace(value.charCodeAt(0)) || isSpace(value.charCodeAt(value.length - 1))) ? value.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '') : value;
}

/** The arguments that make a light Headers: only this module has it. */
const RAW = Symbol('raw');

export class Headers {
  #raw: readonly string[] = [];
  #real: InstanceType<RealHeaders> | null = null;

  static [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    return #raw in value || (this === Headers && value instanceof realHeaders());
  }

  constructor(init?: unknown, raw?: readonly string[]) {
    if (init !== RAW) return new (realHeaders())(Headers.real(init) as ConstructorParameters<RealHeaders>[0]) as unknown as Headers;
    this.#raw = raw as readonly string[];
  }

  /** The headers of a request node parsed, from its rawHeaders ([name, value, name, value...]). */
  static of(raw: readonly string[]): Headers {
    return new Headers(RAW, raw);
  }

  /** undici's Headers for `value` when it is a light one; else `value`. */
  static real(value: unknown): unknown {
    return typeof value === 'object' && value !== null && #raw in value ? value.#materialize() : value;
  }

  #materialize(): InstanceType<RealHeaders> {
    if (!this.#real) {
      this.#real = new (realHeaders())();
      const raw = this.#raw;
      for (let i = 0; i < raw.length; i += 2) this.#real.append(raw[i] as string, raw[i + 1] as string);
    }
    return this.#real;
  }

  /** The name's value as Headers.get gives it, or undefined when undici's must answer. */
  #lookup(name: unknown): string | null | undefined {
    if (this.#real || typeof name !== 'string' || !HEADER_NAME.test(name)) return undefined;
    const raw = this.#raw;
    const lower = name.toLowerCase();
    let value: string | null = null;
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i] as string;
      if (n.length !== lower.length || n.toLowerCase() !== lower) continue;
      const v = trimmed(raw[i + 1] as string);
      value = value === null ? v : `${value}${lower === 'cookie' ? '; ' : ', '}${v}`;
    }
    return value;
  }

  get(name: string): string | null {
    const value = this.#lookup(name);
    return value !== undefined ? value : this.#materialize().get(name);
  }

  has(name: string): boolean {
    const value = this.#lookup(name);
    return value !== undefined ? value !== null : this.#materialize().has(name);
  }

  set(name: string, value: string): void {
    this.#materialize().set(name, value);
  }

  append(name: string, value: string): void {
    this.#materialize().append(name, value);
  }

  delete(name: string): void {
    this.#materialize().delete(name);
  }

  getSetCookie(): string[] {
    return this.#materialize().getSetCookie();
  }

  forEach(callback: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    this.#materialize().forEach((value, key) => callback.call(thisArg, value, key, this));
  }

  keys(): IterableIterator<string> {
    return this.#materialize().keys();
  }

  values(): IterableIterator<string> {
    return this.#materialize().values();
  }

  entries(): IterableIterator<[string, string]> {
    return this.#materialize().entries();
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.#materialize().entries();
  }

  [inspect.custom](depth: number, options: object): string {
    return `Headers ${inspect(this.#materialize(), { ...options, depth })}`;
  }
}
