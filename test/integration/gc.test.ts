/**
 * A crash of warren (SIGKILL, no cleanup) kills its sandboxes, and `warren gc` removes what is left
 * on the host: cgroup, run dir, uid lease, layer-use record. Uses its own run dir and cgroup prefix so that the
 * suite's other sandboxes, alive at the same time, are not involved.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { detectCgroups } from '../../sandbox/cgroups/index.js';
import { NEEDS_ROOT, NO_RESOLVER, probeVolume, testDirs, testEnv, warren, WARREN } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Processes in the sandbox's cgroup that run the probe. */
function commandsIn(id: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('/probe/probe') && fs.readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(id);
      } catch {
        return false;
      }
    })
    .map(Number);
}

function initProcesses(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('warren:[init]');
      } catch {
        return false;
      }
    })
    .map(Number);
}

t.test('after warren is killed, its sandbox dies and gc removes what is left', { skip: NEEDS_ROOT }, async (t) => {
  // its own bridge, table and subnet too: gc may remove them once its sandbox is gone
  const dirs = { ...testDirs('wrntest-gc'), net: { bridge: 'wrntestgc0', table: 'wrntestgc', subnet: '10.214.0.0/16', resolvConf: NO_RESOLVER } };
  const env = testEnv(dirs);
  const sandboxes = path.join(dirs.run, 'sandboxes');
  const uids = path.join(dirs.run, 'uids');
  const records = path.join(dirs.run, 'layers');
  const cgroups = detectCgroups({ parent: dirs.cgroupParent });

  const child = spawn(process.execPath, [WARREN, 'run', '--net', 'bridge', '--egress', 'public', ...probeVolume(), '--', '/probe/probe', 'sleep', '60'], { env, stdio: 'ignore' });
  await until('the sandbox to start', () => fs.existsSync(sandboxes) && fs.readdirSync(sandboxes).length === 1);
  const [id] = fs.readdirSync(sandboxes);
  await until('its cgroup', () => fs.readdirSync(uids).length === 1);
  const initsOf = () => initProcesses().filter((pid) => fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(id as string));
  // until the command runs: init starts it with vfork, and until its exec the child shows init's
  // name too (they share the memory that holds it), so a look before then may count two inits
  await until('the sandbox init and its command', () => initsOf().length === 1 && commandsIn(id as string).length === 1);
  const inits = initsOf();
  t.equal(inits.length, 1, 'the sandbox init runs');
  t.same(fs.readdirSync(records), [id], 'it recorded the layers it mounted');

  // its veths (the sandbox's and the pooled spares'), to watch them go; other tests have their own
  const ourVeths = execFileSync('ip', ['-o', 'link', 'show', 'master', dirs.net.bridge], { encoding: 'utf8' }).match(/wrn[0-9a-f]{12}/g) ?? [];
  t.ok(ourVeths.length >= 1, 'the sandbox has its veth on the bridge');
  child.kill('SIGKILL'); // a crash: no cleanup code of warren runs
  await until('the sandbox init to die', () => inits.every((pid) => !fs.existsSync(`/proc/${pid}`)));
  t.pass('the spawner and the sandbox died with warren');
  t.same(await cgroups.list(), [id], 'the crash left the cgroup');
  t.same(fs.readdirSync(sandboxes), [id], 'and the run dir');
  t.equal(fs.readdirSync(uids).length, 1, 'and the uid lease');
  t.same(fs.readdirSync(records), [id], 'and the layer record');
  t.ok(fs.readdirSync(path.join(dirs.run, 'ips')).length >= 1, 'and the address leases');
  t.match(execFileSync('nft', ['list', 'set', 'inet', 'wrntestgc', 'egress_public'], { encoding: 'utf8' }), /elements = \{ 10\.214\./, 'and its nftables element');

  const first = await warren(['gc'], { env });
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, /removed 1 cgroups, 1 run dirs, 1 leases, [1-9]\d* addresses, 1 layer records/, 'its address, and those of the namespaces pooled ahead');
  t.same(await cgroups.list(), [], 'no cgroup left');
  t.same(fs.readdirSync(sandboxes), [], 'no run dir left');
  t.same(fs.readdirSync(uids), [], 'no lease left');
  t.same(fs.readdirSync(records), [], 'no layer record left: its layers are free for image gc');
  t.same(fs.readdirSync(path.join(dirs.run, 'ips')), [], 'no address lease left');
  t.notMatch(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }), /wrntestgc/, 'nothing uses the table: gone');
  // the veths of the namespaces the dead spawner held go when the kernel frees those, in batches
  const links = () => execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
  await until('the pooled namespaces to be freed', () => ourVeths.every((v) => !links().includes(v)), 60_000);
  t.notMatch(links(), /wrntestgc0/, 'nor the bridge');
  t.ok(ourVeths.every((v) => !links().includes(v)), 'nor its veths');

  const second = await warren(['gc'], { env });
  t.equal(second.code, 0, 'a second gc is harmless');
  t.match(second.stdout, /removed 0 cgroups, 0 run dirs, 0 leases, 0 addresses, 0 layer records/);
});
