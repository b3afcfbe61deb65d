/**
 * Finding and parsing a project's config file: warren.toml first, else wrangler.toml,
 * wrangler.json or wrangler.jsonc (wrangler's own order of preference among its three is json,
 * jsonc, toml; a project has one of them in practice). The parsers are maintained ones (smol-toml,
 * jsonc-parser); their errors keep the file and line. `lineOf` finds where a key is written, so
 * that an error about a key's meaning (a binding warren does not have) names its line too.
 */
import fs from 'node:fs';
import path from 'node:path';
import { findNodeAtLocation, parse as parseJsonc, parseTree, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { parse as parseToml } from 'smol-toml';
import { errnoOf, WarrenError } from '../lib/errors.js';

export const CONFIG_FILES = ['warren.toml', 'wrangler.toml', 'wrangler.json', 'wrangler.jsonc'] as const;

/** A config file is a few hundred bytes; anything near this is not one. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export interface ConfigFile {
  /** The file's path as given (absolute). */
  path: string;
  /** warren.toml takes warren's own keys and refuses unknown ones; wrangler's files are read as wrangler reads them. */
  kind: 'warren' | 'wrangler';
  data: Record<string, unknown>;
  /** The line (1-based) where the key at `keys` is written, when it can be found. */
  lineOf(keys: readonly string[]): number | undefined;
}

/** The first config file in `dir`, parsed; undefined when there is none. */
export function findConfigFile(dir: string): ConfigFile | undefined {
  for (const name of CONFIG_FILES) {
    const file = path.join(dir, name);
    let text: string;
    try {
      // checked before it is read: a config symlinked to /dev/zero or a FIFO would be read
      // without end (readFileSync reads to EOF), a huge one whole
      const st = fs.statSync(file);
      if (!st.isFile()) throw new WarrenError('WARREN_CONFIG_PARSE', `'${file}' is not a regular file`);
      if (st.size > MAX_CONFIG_BYTES) throw new WarrenError('WARREN_CONFIG_PARSE', `'${file}' is ${st.size} bytes: a config file may be ${MAX_CONFIG_BYTES} at most`);
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') continue;
      if (err instanceof WarrenError) throw err;
      throw new WarrenError('WARREN_CONFIG_PARSE', `cannot read '${file}': ${(err as Error).message}`, { cause: err });
    }
    return parseConfigText(file, text);
  }
  return undefined;
}

export function parseConfigText(file: string, text: string): ConfigFile {
  const kind = path.basename(file) === 'warren.toml' ? 'warren' : 'wrangler';
  if (file.endsWith('.toml')) return { path: file, kind, data: tomlData(file, text), lineOf: (keys) => tomlLine(text, keys) };
  return { path: file, kind, data: jsonData(file, text), lineOf: (keys) => jsonLine(text, keys) };
}

function tomlData(file: string, text: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (err) {
    const e = err as { line?: number; column?: number; message?: string };
    const what = (e.message ?? String(err)).split('\n')[0]?.replace(/^Invalid TOML document: /, '') ?? 'invalid TOML';
    const where = e.line !== undefined ? `:${e.line}${e.column !== undefined ? `:${e.column}` : ''}` : '';
    throw new WarrenError('WARREN_CONFIG_PARSE', `${file}${where}: not valid TOML: ${what}`, { cause: err });
  }
}

function jsonData(file: string, text: string): Record<string, unknown> {
  const errors: ParseError[] = [];
  const data = parseJsonc(text, errors, { allowTrailingComma: true, disallowComments: false }) as unknown;
  const first = errors[0];
  if (first !== undefined) {
    const { line, column } = position(text, first.offset);
    throw new WarrenError('WARREN_CONFIG_PARSE', `${file}:${line}:${column}: not valid JSON: ${describe(printParseErrorCode(first.error))}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new WarrenError('WARREN_CONFIG_PARSE', `${file}: expected a JSON object at the top`);
  return data as Record<string, unknown>;
}

/** "ValueExpected" -> "value expected" */
function describe(code: string): string {
  return code.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}

function position(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

function jsonLine(text: string, keys: readonly string[]): number | undefined {
  const node = findNodeAtLocation(parseTree(text) ?? { type: 'null', offset: 0, length: 0 }, [...keys]);
  // the value's node; its parent is the property, which starts at the key
  const at = node?.parent?.type === 'property' ? node.parent.offset : node?.offset;
  return at === undefined ? undefined : position(text, at).line;
}

/** The line of `a.b.c` in TOML: a table header naming it (`[a.b.c]`, `[[a.b.c]]`), or the last
 * key written as `c = ...` / `c.x = ...` under the header of its parent (or a dotted key). */
function tomlLine(text: string, keys: readonly string[]): number | undefined {
  const lines = text.split('\n');
  const dotted = keys.join('.');
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const header = new RegExp(`^\\s*\\[\\[?\\s*${esc(dotted)}\\s*[\\].]`);
  const parent = keys.slice(0, -1).join('.');
  const last = keys[keys.length - 1] ?? '';
  let table = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (header.test(line)) return i + 1;
    const h = /^\s*\[\[?\s*([^\]]+?)\s*\]/.exec(line);
    if (h) {
      table = h[1] as string;
      continue;
    }
    if (table === parent && new RegExp(`^\\s*["']?${esc(last)}["']?\\s*[=.]`).test(line)) return i + 1;
    if (table === '' && new RegExp(`^\\s*${esc(dotted)}\\s*[=.]`).test(line)) return i + 1;
  }
  return undefined;
}
