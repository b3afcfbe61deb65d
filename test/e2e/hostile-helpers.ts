/**
 * What the hostile e2e tests (hostile-http, hostile-function-*) share: a neighbour function polled while a hostile one
 * attacks, and the checks that the host did not notice (the server runs, its control API answers,
 * its memory did not grow with the attack).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Test } from 'tap';
import type { Dirs } from '../../lib/dirs.js';
import { SandboxNetwork } from '../../sandbox/network/index.js';
import { ensureProbe } from '../probe/probe.js';
import { api, invoke, type Server } from './serve-helpers.js';

/** The neighbour every file deploys: it must answer throughout each attack. */
export const NEIGHBOUR = `export default { fetch() { return new Response('neighbour ok'); } };`;

/**
 * A function that carries the static probe (test/probe/) in its module, as a user's code may carry
 * a binary of its own: `/probe?args=forkbomb` writes it to /tmp, runs it with those arguments
 * (split on spaces) and answers its JSON line, so the kernel-level attacks the probe knows are made
 * from a deployed function.
 */
export function probeModule(): string {
  const binary = fs.readFileSync(path.join(ensureProbe(), 'probe')).toString('base64');
  return `
import fs from 'node:fs';
import { execFile } from 'node:child_process';
const PROBE = '${binary}';
export default {
  async fetch(request) {
    const args = (new URL(request.url).searchParams.get('args') ?? '').split(' ');
    if (!fs.existsSync('/tmp/probe')) fs.writeFileSync('/tmp/probe', Buffer.from(PROBE, 'base64'), { mode: 0o755 });
    const out = await new Promise((resolve) => execFile('/tmp/probe', args, { timeout: 20000 }, (err, stdout, stderr) => resolve({ code: err?.code ?? 0, stdout, stderr })));
    const line = out.stdout.trim().split('\\n').pop();
    return line ? new Response(line, { headers: { 'content-type': 'application/json' } }) : Response.json(out, { status: 500 });
  },
};`;
}

export interface Watched<T> {
  result: T;
  /** The neighbour's statuses while the attack ran (a wrong body counts as -status, no answer 0). */
  statuses: number[];
}

/** Polls `/<neighbour>/` while `attack` runs; resolves with the attack's result and every status. */
export async function withNeighbour<T>(s: Server, attack: () => Promise<T>, neighbour = 'neighbour'): Promise<Watched<T>> {
  const statuses: number[] = [];
  let running = true;
  const poll = (async () => {
    while (running) {
      statuses.push(await invoke(s, `/${neighbour}/`).then((a) => (a.text === 'neighbour ok' ? a.status : -a.status), () => 0));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    return { result: await attack(), statuses };
  } finally {
    running = false;
    await poll;
  }
}

/** Every poll answered 200 with the neighbour's body. */
export function allOk(statuses: readonly number[]): boolean {
  return statuses.length > 0 && statuses.every((c) => c === 200);
}

/** The server's resident memory, in bytes (from /proc, as `ps` shows it). */
export function serverRss(s: Server): number {
  const status = fs.readFileSync(`/proc/${s.child.pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
}

/** The host did not notice: the server runs, answers its control API and the neighbour. */
export async function hostUnharmed(t: Test, s: Server): Promise<void> {
  t.equal(s.child.exitCode, null, 'warren serve is running');
  t.equal((await api(s, 'GET', '/v1/functions')).status, 200, 'its control API answers');
  t.equal((await invoke(s, '/neighbour/')).text, 'neighbour ok', 'the neighbour answers');
}

/** After the server stopped: its bridge and table (no sandbox is left, so they go), its run and
 * state dirs. A server keeps them across restarts; a test's are its own to remove. */
export async function removeServerLeftovers(dirs: Dirs): Promise<void> {
  await SandboxNetwork.collect({ ...dirs.net, runDir: dirs.run });
  fs.rmSync(dirs.run, { recursive: true, force: true });
  fs.rmSync(dirs.state, { recursive: true, force: true });
}
