/**
 * Hostile functions against their neighbours' processes and the kernel, through a real `warren
 * serve` (needs root): a deployed function reads every /proc entry it can see and asks for the
 * neighbour's by its host pid, hunting for the neighbour's secret; and the probe (test/probe/),
 * carried in a function's module, reports the kernel surface it meets. The kernel surface is
 * checked in full, syscall by syscall and capability by capability, from `warren run`'s sandboxes
 * in test/integration/seccomp.test.ts, identity.test.ts, filesystem.test.ts and the CVE
 * regressions in test/regress/; here a few of its facts show that a deployed function meets the
 * same sandbox.
 */
import t from 'tap';
import { NEEDS_ROOT } from '../integration/helpers.js';
import { allOk, hostUnharmed, NEIGHBOUR, probeModule, removeServerLeftovers, withNeighbour } from './hostile-helpers.js';
import { api, deploy, invoke, ports, processesOf, serveDirs, startServe } from './serve-helpers.js';

const dirs = serveDirs('wrntest-fn-proc');
/** This file's ports: ports(21680) + 4 and 5 (the other hostile-function files have + 0 to 3). */
const PORT = { data: ports(21680).data + 4, control: ports(21680).control + 4 };
const SECRET = 's3cret-of-the-neighbour';

/** Reads every /proc/<pid> it can see, or one path. */
const SNOOP = `
import fs from 'node:fs';
const read = (p) => { try { return fs.readFileSync(p, 'latin1'); } catch (e) { return e.code; } };
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/read') return new Response(read(url.searchParams.get('path')));
    const pids = fs.readdirSync('/proc').filter((d) => /^\\d+$/.test(d));
    return Response.json(pids.map((pid) => ({
      pid: Number(pid),
      cmdline: read('/proc/' + pid + '/cmdline').replace(/\\0/g, ' '),
      environ: read('/proc/' + pid + '/environ'),
      maps: read('/proc/' + pid + '/maps').length,
    })));
  },
};`;

interface Seen {
  pid: number;
  cmdline: string;
  environ: string;
}

t.test('hostile functions: /proc and the kernel', { skip: NEEDS_ROOT, timeout: 600_000 }, async (t) => {
  const s = await startServe(dirs, PORT, ['--no-demo', '--pool', '1']);
  t.teardown(async () => {
    await s.stop();
    await removeServerLeftovers(dirs);
  });
  t.equal((await deploy(s, 'neighbour', NEIGHBOUR, { vars: { GREETING: SECRET } })).status, 201);
  t.ok((await api(s, 'PUT', '/v1/functions/neighbour/secrets/TOKEN', SECRET)).status < 300);
  t.equal((await invoke(s, '/neighbour/')).text, 'neighbour ok', 'the neighbour runs, its secret loaded');
  t.equal((await deploy(s, 'snoop', SNOOP)).status, 201);
  t.equal((await deploy(s, 'prober', probeModule())).status, 201);

  await t.test('reading other sandboxes\' /proc entries: only its own processes are there', async (t) => {
    const { result, statuses } = await withNeighbour(s, () => invoke(s, '/snoop/'));
    const seen = result.json<Seen[]>();
    t.ok(seen.length > 0 && seen.length <= 4, `it sees ${seen.length} processes: ${seen.map((p) => `${p.pid} ${p.cmdline.slice(0, 60)}`).join('; ')}`);
    t.ok(seen.every((p) => p.pid < 100), 'numbered in its own pid namespace');
    t.notOk(seen.some((p) => /warren serve|spawner|neighbour/.test(p.cmdline)), 'neither the server nor the neighbour among them');
    t.notOk(JSON.stringify(seen).includes(SECRET), 'the neighbour\'s secret is in none of their cmdlines or environments');
    t.ok(allOk(statuses), 'the neighbour answered throughout');
  });

  await t.test('reading a neighbour\'s /proc entries by its host pid: not there', async (t) => {
    // every process of this server's sandboxes, as the host numbers them; the snoop's own among them
    const hostPids = processesOf(dirs.cgroupParent).map((line) => Number(line.split(' ')[0]));
    t.ok(hostPids.length >= 2, `the host sees ${hostPids.length} sandbox processes`);
    const found: string[] = [];
    for (const pid of hostPids) {
      for (const entry of ['status', 'environ', 'cmdline']) {
        const got = (await invoke(s, `/snoop/read?path=/proc/${pid}/${entry}`)).text;
        if (got !== 'ENOENT') found.push(`/proc/${pid}/${entry}: ${got.slice(0, 80)}`);
      }
    }
    t.same(found, [], `none of the ${hostPids.length} pids' status, environ or cmdline is there`);
    const hosts = (await invoke(s, '/snoop/read?path=/etc/hosts')).text;
    const throughInit = (await invoke(s, '/snoop/read?path=/proc/1/root/etc/hosts')).text;
    t.ok(throughInit === hosts || throughInit === 'EACCES', `through its init's /proc/1/root: its own root or nothing (${throughInit.slice(0, 40)})`);
    t.match(hosts, /warren/, `its own /etc/hosts (${hosts.trim().split('\n').pop()})`);
  });

  await t.test('the kernel surface the probe covers: no capabilities, seccomp on, no new privileges, a user namespace', async (t) => {
    const id = (await invoke(s, '/prober/?args=identity')).json<{ uid: number; uid_map: string; status: Record<string, string> }>();
    t.equal(id.uid, 0, 'root inside');
    t.notMatch(id.uid_map, /^\s*0\s+0\s/, `mapped to an unprivileged host uid (${id.uid_map.trim()})`);
    for (const cap of ['CapEff', 'CapPrm', 'CapInh', 'CapAmb']) t.equal(id.status[cap], '0000000000000000', `${cap} empty`);
    t.equal(id.status.NoNewPrivs, '1');
    t.equal(id.status.Seccomp, '2', 'a seccomp filter');
    const calls = (await invoke(s, '/prober/?args=syscalls')).json<{ results: Record<string, number> }>().results;
    for (const name of ['mount', 'unshare', 'setns', 'ptrace', 'bpf', 'keyctl', 'init_module', 'clone_newns']) t.equal(calls[name], 1, `${name}: EPERM`);
    t.equal(calls.getpid, 0, 'and ordinary calls work');
  });

  await t.test('after every attempt the host did not notice', (t) => hostUnharmed(t, s));
});
