/**
 * Resource limits hold inside, and a sandbox that hits one harms neither the host nor a neighbour.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { SandboxHost } from '../../sandbox/index.js';
import { imageLayerPaths } from '../../snapshots/index.js';
import { ensureProbe } from '../probe/probe.js';
import { NEEDS_ROOT, probe, testDirs, warren, probeVolume } from './helpers.js';

t.test('a memory bomb is OOM-killed and reported; a neighbour lives on', { skip: NEEDS_ROOT }, async (t) => {
  const neighbour = probe<{ slept: number }>([], ['sleep', '3']);
  const bomb = await warren(['run', ...probeVolume(), '--memory', '64m', '--', '/probe/probe', 'membomb', '16']);
  t.equal(bomb.code, 137, 'exit code 137, as docker reports an OOM kill');
  t.match(bomb.stderr, /^killed: out of memory \(limit 64 MiB\)$/m);
  const n = await neighbour;
  t.equal(n.$.code, 0, 'the neighbour finished normally');
  t.equal(n.slept, 3);
});

t.test('a fork bomb hits the pids limit', { skip: NEEDS_ROOT }, async (t) => {
  const r = await probe<{ forked: number; errno: number }>(['--pids', '64'], ['forkbomb']);
  t.equal(r.errno, 11, 'fork fails with EAGAIN');
  t.ok(r.forked > 0 && r.forked < 64, `stopped below the limit (forked ${r.forked})`);
  t.equal(r.$.code, 0);
});

t.test('filling the writable layer gives ENOSPC inside only', { skip: NEEDS_ROOT }, async (t) => {
  const before = fs.statfsSync('/').bavail;
  const r = await probe<{ bytes: number; errno: number }>(['--tmpfs', '16m'], ['fill', '/tmp/big']);
  t.equal(r.errno, 28, 'ENOSPC');
  t.ok(r.bytes <= 16 * 1024 * 1024, `wrote at most the tmpfs size (${r.bytes})`);
  const after = fs.statfsSync('/').bavail;
  t.ok(Math.abs(before - after) * fs.statfsSync('/').bsize < 8 * 1024 * 1024, "the host's disk did not fill");
  const next = await probe<{ ok: boolean }>([], ['write', '/tmp/small', 'fine']);
  t.ok(next.ok, 'the next sandbox writes normally');
});

t.test('--cpus 0.5 holds a CPU burner to about half a core (cgroup stats)', { skip: NEEDS_ROOT }, async (t) => {
  const dirs = testDirs();
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-cpu-')), 'out');
  fs.writeFileSync(out, '');
  t.teardown(() => fs.rmSync(path.dirname(out), { recursive: true, force: true }));
  await using host = await SandboxHost.open({ dirs });
  const seconds = 3;
  const sandbox = await host.create({
    argv: ['/probe/probe', 'cpuburn', String(seconds), '2'],
    layers: imageLayerPaths(dirs.state, 'node'),
    limits: { cpus: 0.5 },
    binds: [{ src: ensureProbe(), dst: '/probe', readonly: true }],
    stdio: ['null', { path: out }, 'inherit'],
  });
  await sandbox.ready();
  const exit = await sandbox.exited;
  t.equal(exit.code, 0);
  const cores = (exit.stats?.cpuUsageUsec ?? 0) / 1e6 / seconds;
  t.ok(cores > 0.3 && cores < 0.7, `used ${cores.toFixed(2)} cores with two spinning threads`);
  const report = JSON.parse(fs.readFileSync(out, 'utf8')) as { cpu_seconds: number };
  t.ok(report.cpu_seconds < seconds * 0.75, `the probe saw ${report.cpu_seconds} cpu-seconds in ${seconds} s`);
});
