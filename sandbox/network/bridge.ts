/**
 * The host bridge sandboxes hang off: made once per warren start, so running `ip` is fine here
 * (the per-sandbox path is netlink, in sandbox/native/netlink.c). Idempotent: a bridge left by an
 * earlier start, or made by a concurrent warren process, is taken as it is.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { WarrenError } from '../../lib/errors.js';
import { parseCidr } from './cidr.js';

const run = promisify(execFile);

export interface BridgeOptions {
  /** default 'warren0' */
  name?: string;
  /** the gateway address with the subnet's prefix: '10.88.0.1/16' */
  address: string;
  ipBinary?: string;
}

interface IpAddrJson {
  ifname?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string };
  addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }>;
}

async function ip(bin: string, args: string[]): Promise<string> {
  const { stdout } = await run(bin, args);
  return stdout;
}

async function show(bin: string, name: string): Promise<IpAddrJson | undefined> {
  try {
    const [link] = JSON.parse(await ip(bin, ['-j', '-d', 'addr', 'show', 'dev', name])) as IpAddrJson[];
    return link;
  } catch (err) {
    if (/does not exist|Cannot find device/.test(String((err as { stderr?: string }).stderr))) return undefined;
    throw err;
  }
}

/** Creates the bridge if absent, gives it the gateway address if it lacks it, brings it up. */
export async function ensureBridge(options: BridgeOptions): Promise<void> {
  const name = options.name ?? 'warren0';
  const bin = options.ipBinary ?? 'ip';
  const [addr = '', prefix] = options.address.split('/');
  parseCidr(options.address); // validates both parts
  if (prefix === undefined) throw new WarrenError('WARREN_NET_BAD_ADDRESS', `bridge address '${options.address}' needs a prefix`);
  try {
    let link = await show(bin, name);
    if (link && link.linkinfo?.info_kind !== 'bridge') {
      throw new WarrenError('WARREN_NET_BRIDGE', `'${name}' exists and is not a bridge (${link.linkinfo?.info_kind ?? 'unknown kind'})`);
    }
    if (!link) {
      await tolerate(ip(bin, ['link', 'add', name, 'type', 'bridge']), /File exists/);
      link = await show(bin, name);
    }
    const has = link?.addr_info?.some((a) => a.family === 'inet' && a.local === addr && a.prefixlen === Number(prefix));
    if (!has) await tolerate(ip(bin, ['addr', 'add', options.address, 'dev', name]), /File exists/);
    await ip(bin, ['link', 'set', name, 'up']);
  } catch (err) {
    if (err instanceof WarrenError) throw err;
    throw new WarrenError('WARREN_NET_BRIDGE', `set up bridge '${name}' with ${options.address}: ${stderrOf(err)}`, { cause: err });
  }
}

/** Deletes the bridge; absent is fine. Sandboxes' veths must be gone (they die with their netns). */
export async function removeBridge(name = 'warren0', ipBinary = 'ip'): Promise<void> {
  try {
    await tolerate(ip(ipBinary, ['link', 'del', name]), /Cannot find device|does not exist/);
  } catch (err) {
    throw new WarrenError('WARREN_NET_BRIDGE', `delete bridge '${name}': ${stderrOf(err)}`, { cause: err });
  }
}

/** Resolves when `p` fails with stderr matching `ok`: a race another process won. */
async function tolerate(p: Promise<unknown>, ok: RegExp): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!ok.test(stderrOf(err))) throw err;
  }
}

function stderrOf(err: unknown): string {
  return String((err as { stderr?: string }).stderr ?? (err as Error).message ?? err).trim();
}
