/**
 * The systemd unit for `warren serve` and its installer, checked without installing anything on
 * this machine: the unit's fields, `systemd-analyze verify` when the tool is here, and an install
 * and uninstall into a temp dir with a fake systemctl (root only: the script insists on it).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { DRAIN_MS } from '../cli/serve.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const SCRIPT = path.join(ROOT, 'scripts', 'install-service.sh');

function run(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(SCRIPT, args, { env, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function fields(unit: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) out.set(m[1] as string, m[2] as string);
  }
  return out;
}

const printed = run(['--print']);

t.test('the unit runs this checkout with node, restarts on failure and stops cleanly', async (t) => {
  t.equal(printed.code, 0, printed.err);
  t.notMatch(printed.out, /@[A-Z]+@/, 'every placeholder filled');
  const f = fields(printed.out);
  t.match(f.get('ExecStart'), new RegExp(`^/\\S*node ${ROOT}/bin/warren\\.js serve \\$WARREN_SERVE_ARGS$`));
  t.equal(f.get('Restart'), 'on-failure');
  t.equal(f.get('KillSignal'), 'SIGTERM', 'SIGTERM: serve drains');
  t.equal(f.get('KillMode'), 'process', 'only serve is signalled: a crash leaves what --live-restore keeps for the restart');
  const stop = Number(/^(\d+)s$/.exec(f.get('TimeoutStopSec') ?? '')?.[1]);
  t.ok(stop * 1000 > DRAIN_MS + 5000, `TimeoutStopSec (${stop} s) outlasts the drain (${DRAIN_MS / 1000} s) and the teardown after it`);
  t.equal(f.get('WantedBy'), 'multi-user.target');
  t.equal(f.get('EnvironmentFile'), '-/etc/default/warren');
});

t.test('systemd-analyze verify finds nothing to say', { skip: spawnSync('systemd-analyze', ['--version']).status === 0 ? false : 'no systemd-analyze here' }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-unit-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'warren.service'), printed.out);
  const r = spawnSync('systemd-analyze', ['verify', path.join(dir, 'warren.service')], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 0);
  // it warns (unknown keys, bad values) on stderr and still exits 0
  t.equal(r.stderr.trim(), '', 'no warning');
});

t.test('install and uninstall, into a temp dir with a fake systemctl', { skip: process.getuid?.() === 0 ? false : 'the installer insists on root' }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-unit-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const units = path.join(dir, 'units');
  const bin = path.join(dir, 'bin');
  const calls = path.join(dir, 'calls');
  fs.mkdirSync(units);
  fs.mkdirSync(bin);
  fs.mkdirSync(path.join(dir, 'systemd'));
  fs.writeFileSync(path.join(bin, 'systemctl'), `#!/bin/sh\necho "$*" >> ${calls}\n`, { mode: 0o755 });
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, WARREN_UNIT_DIR: units, WARREN_SYSTEMD_RUN: path.join(dir, 'systemd') };

  const noSystemd = run([], { ...env, WARREN_SYSTEMD_RUN: path.join(dir, 'none') });
  t.equal(noSystemd.code, 1);
  t.match(noSystemd.err, /systemd is not running/);

  const install = run([], env);
  t.equal(install.code, 0, install.err);
  t.equal(fs.readFileSync(path.join(units, 'warren.service'), 'utf8'), printed.out, 'the unit --print shows');
  t.same(fs.readFileSync(calls, 'utf8').trim().split('\n'), ['daemon-reload', 'enable warren.service', 'restart warren.service']);

  fs.rmSync(calls);
  const uninstall = run(['--uninstall'], env);
  t.equal(uninstall.code, 0, uninstall.err);
  t.notOk(fs.existsSync(path.join(units, 'warren.service')), 'the unit is gone');
  t.same(fs.readFileSync(calls, 'utf8').trim().split('\n'), ['disable --now warren.service', 'daemon-reload']);
  t.equal(run(['--bogus'], env).code, 2);
});
