/**
 * What a command sees of itself and its surroundings from inside the sandbox: the probe reports,
 * the tests assert what `docker run` users expect and what DESIGN.md promises.
 */
import fs from 'node:fs';
import t from 'tap';
import type { ProbeIdentity } from '../probe/probe.js';
import { hostRootUid, NEEDS_ROOT, probe, probeVolume, warren } from './helpers.js';

t.test('pid namespace: the command is not pid 1, init is warren-init, no host process shows', { skip: NEEDS_ROOT }, async (t) => {
  const id = await probe<ProbeIdentity>([], ['identity']);
  t.equal(id.$.code, 0);
  t.not(id.pid, 1, 'the command is not pid 1');
  t.equal(id.ppid, 1, 'its parent is init');
  t.equal(id.init_comm, 'warren:[init]');
  t.match(id.init_cmdline ?? '', /^warren:\[init\]/);
  t.same(id.pids, [1, id.pid], 'only init and the command are visible');
});

t.test('uts: the hostname is set', { skip: NEEDS_ROOT }, async (t) => {
  const id = await probe<ProbeIdentity>(['--hostname', 'probe-box'], ['identity']);
  t.equal(id.hostname, 'probe-box');
});

t.test('user namespace: root inside is an unprivileged host uid, different for two sandboxes', { skip: NEEDS_ROOT }, async (t) => {
  // both sandboxes hold on after reporting, so they are alive at the same time
  const [a, b] = await Promise.all([
    probe<ProbeIdentity>(['-e', 'PROBE_HOLD=2'], ['identity']),
    probe<ProbeIdentity>(['-e', 'PROBE_HOLD=2'], ['identity']),
  ]);
  t.equal(a.uid, 0, 'the command runs as root inside');
  const ua = hostRootUid(a.uid_map ?? '');
  const ub = hostRootUid(b.uid_map ?? '');
  t.not(ua, 0, 'root inside is not root on the host');
  t.ok(ua >= 65536 && ub >= 65536, 'host uids are outside the range of real users');
  t.not(ua, ub, 'each sandbox has its own range');
  t.equal(hostRootUid(a.gid_map ?? ''), ua, 'gids are mapped like uids');
});

t.test('privileges: no capabilities, no_new_privs, seccomp filter mode', { skip: NEEDS_ROOT }, async (t) => {
  const id = await probe<ProbeIdentity>([], ['identity']);
  for (const set of ['CapEff', 'CapPrm', 'CapBnd', 'CapInh', 'CapAmb'] as const) {
    t.equal(id.status?.[set], '0000000000000000', `${set} is empty`);
  }
  t.equal(id.status?.NoNewPrivs, '1');
  t.equal(id.status?.Seccomp, '2', 'seccomp is in filter mode');
});

t.test('environment: clean, only PATH, HOME, HOSTNAME and --env', { skip: NEEDS_ROOT }, async (t) => {
  const id = await probe<ProbeIdentity>(['-e', 'GREETING=hi there', '--hostname', 'envbox'], ['identity']);
  const keys = id.env.map((e) => e.split('=')[0]).sort();
  t.same(keys, ['GREETING', 'HOME', 'HOSTNAME', 'PATH']);
  t.ok(id.env.includes('GREETING=hi there'));
  t.ok(id.env.includes('HOSTNAME=envbox'));
  t.notOk(id.env.some((e) => e.startsWith('NODE_EXTRA_CA_CERTS=')), "nothing of the host's environment");
});

t.test('file descriptors: only 0-2 reach the command, not even one the caller held open', { skip: NEEDS_ROOT }, async (t) => {
  const fd = fs.openSync('/etc/hostname', 'r');
  try {
    // fd 7 of `warren` is this file, inherited without close-on-exec
    const r = await warren(['run', ...probeVolume(), '--', '/probe/probe', 'identity'], {
      stdio: ['ignore', 'pipe', 'pipe', 'ignore', 'ignore', 'ignore', 'ignore', fd],
    });
    const id = JSON.parse(r.stdout) as ProbeIdentity;
    t.same(id.fds, [0, 1, 2]);
  } finally {
    fs.closeSync(fd);
  }
});

t.test('/proc: masked and read-only paths as Docker has them', { skip: NEEDS_ROOT }, async (t) => {
  for (const path of ['/proc/keys', '/proc/timer_list', '/proc/kcore']) {
    const r = await probe<{ ok: boolean; errno: number; bytes: number }>([], ['read', path]);
    // masked: /dev/null bound over it (empty), or absent on this kernel
    t.ok((r.ok && r.bytes === 0) || r.errno === 2, `${path} shows nothing (ok=${r.ok} bytes=${r.bytes} errno=${r.errno})`);
  }
  const sys = await probe<{ ok: boolean; errno: number }>([], ['write', '/proc/sys/kernel/hostname', 'evil']);
  t.notOk(sys.ok, '/proc/sys is read-only');
  t.equal(sys.errno, 30, 'EROFS');
  const id = await probe<ProbeIdentity>([], ['identity']);
  t.ok(id.mounts?.includes('/proc/keys'), '/proc/keys has a mask mounted over it');
});
