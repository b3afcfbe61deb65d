/**
 * The host's resolver configuration (resolv.conf(5)), read the way glibc reads it: the DNS
 * forwarder takes its upstream servers from it, and sandboxes on the bridge get its search and
 * options with the forwarder as their one nameserver (etc-files.ts). Pure but for readResolvConf.
 */
import fs from 'node:fs';
import { isIP } from 'node:net';

export interface ResolvConf {
  readonly nameservers: readonly string[];
  readonly search: readonly string[];
  readonly options: readonly string[];
  /** Directives other than these three, copied as they are (Docker keeps them too). */
  readonly other: readonly string[];
}

/** What a real warren reads; tests always name their own file (lib/dirs.ts WARREN_RESOLV_CONF). */
export const HOST_RESOLV_CONF = '/etc/resolv.conf';

/** glibc's MAXNS: it never asks more servers than this, and neither do we. */
export const MAX_NAMESERVERS = 3;

/** As glibc reads it: a comment starts with # or ; in the first field; a bad address is skipped. */
export function parseResolvConf(text: string): ResolvConf {
  const rc = { nameservers: [] as string[], search: [] as string[], options: [] as string[], other: [] as string[] };
  for (const line of text.split('\n')) {
    const [key, ...args] = line.trim().split(/\s+/);
    if (!key || key.startsWith('#') || key.startsWith(';')) continue;
    if (key === 'nameserver') {
      if (args[0] && isIP(args[0].split('%')[0] as string)) rc.nameservers.push(args[0]);
    } else if (key === 'search' || key === 'domain') {
      if (args.length) rc.search = args; // the last one wins
    } else if (key === 'options') {
      rc.options.push(...args);
    } else {
      rc.other.push(line.trim());
    }
  }
  return rc;
}

export function formatResolvConf(rc: ResolvConf): string {
  const lines = rc.nameservers.map((ip) => `nameserver ${ip}`);
  if (rc.search.length) lines.push(`search ${rc.search.join(' ')}`);
  if (rc.options.length) lines.push(`options ${rc.options.join(' ')}`);
  lines.push(...rc.other);
  return `${lines.join('\n')}\n`;
}

/** A missing or unreadable file is an empty one: no servers (the forwarder then answers SERVFAIL). */
export function readResolvConf(file: string): ResolvConf {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    // as glibc: no file, no configuration
  }
  return parseResolvConf(text);
}
