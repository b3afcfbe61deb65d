/**
 * Another firewall on the same host. Docker sets iptables' FORWARD policy to DROP (and keeps a
 * DOCKER-USER chain for the operator's own rules); ufw and others do the same. In nftables (which
 * iptables-nft is) a packet dropped by any base chain is dropped, whatever warren's own table
 * accepted: without this, every sandbox with egress would lose its traffic on a host that also
 * runs Docker. So when iptables shows such a firewall, warren adds two ACCEPT rules for its
 * bridge where that firewall takes an operator's rules (DOCKER-USER when it exists, else the top
 * of FORWARD), each commented `warren:<bridge>` so they are found again and removed with the
 * bridge. They accept only what warren's own forward chain already let through (both chains see
 * every packet, and warren's drops what a sandbox may not reach), so no sandbox gains a path.
 * iptables' own tool is used, not nft: rules written by nft into iptables-nft's tables would make
 * iptables (and Docker) refuse to list them. No iptables installed: nothing to do.
 */
import { spawn } from 'node:child_process';
import { WarrenError } from '../../lib/errors.js';

export interface IptablesRun {
  (args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Runs iptables (-w: wait for the xtables lock another tool holds); code -1 when it is missing. */
export const runIptables: IptablesRun = (args) =>
  new Promise((resolve) => {
    const child = spawn('iptables', ['-w', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', () => resolve({ code: -1, stdout, stderr }));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });

/** The chain warren's rules go in, or undefined when FORWARD lets everything through anyway. */
export function chainFor(forwardRules: string, dockerUser: boolean): string | undefined {
  if (dockerUser) return 'DOCKER-USER';
  return /^-P FORWARD DROP$/m.test(forwardRules) || /^-A FORWARD -j (DROP|REJECT)\b/m.test(forwardRules) ? 'FORWARD' : undefined;
}

const tag = (bridge: string) => `warren:${bridge}`;

/** The two rules, as iptables arguments after `-I CHAIN 1` / `-C CHAIN` / `-D CHAIN`. */
export function acceptRules(bridge: string): string[][] {
  return [
    ['-i', bridge, '-m', 'comment', '--comment', tag(bridge), '-j', 'ACCEPT'],
    ['-o', bridge, '-m', 'comment', '--comment', tag(bridge), '-j', 'ACCEPT'],
  ];
}

/**
 * Makes room for the bridge's traffic in another firewall, if there is one. Returns what it
 * changed, for the operator to read (empty: nothing to change, or no iptables).
 */
export async function admitBridge(bridge: string, run: IptablesRun = runIptables): Promise<string[]> {
  const forward = await run(['-S', 'FORWARD']);
  if (forward.code !== 0) return []; // no iptables, or no filter table: no such firewall
  const dockerUser = (await run(['-S', 'DOCKER-USER'])).code === 0;
  const chain = chainFor(forward.stdout, dockerUser);
  if (chain === undefined) return [];
  const changed: string[] = [];
  for (const rule of acceptRules(bridge)) {
    if ((await run(['-C', chain, ...rule])).code === 0) continue; // an earlier start added it
    const r = await run(['-I', chain, '1', ...rule]);
    if (r.code !== 0) throw new WarrenError('WARREN_NET_FIREWALL', `add 'iptables -I ${chain} 1 ${rule.join(' ')}': ${r.stderr.trim()}`);
    changed.push(`iptables -I ${chain} 1 ${rule.join(' ')}`);
  }
  return changed;
}

/** Removes every rule commented for the bridge, in whichever chain it is (with the bridge). */
export async function releaseBridge(bridge: string, run: IptablesRun = runIptables): Promise<void> {
  for (const chain of ['DOCKER-USER', 'FORWARD']) {
    const listed = await run(['-S', chain]);
    if (listed.code !== 0) continue;
    for (const line of listed.stdout.split('\n')) {
      if (!line.startsWith(`-A ${chain} `)) continue;
      const args = splitRule(line.slice(`-A ${chain} `.length));
      const comment = args.indexOf('--comment');
      if (comment >= 0 && args[comment + 1] === tag(bridge)) await run(['-D', chain, ...args]);
    }
  }
}

/** A rule as `iptables -S` prints it, as arguments: it quotes a comment ("warren:warren0"). */
export function splitRule(text: string): string[] {
  return [...text.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => (m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] as string)));
}
