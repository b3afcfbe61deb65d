import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { sweepStale } from './bench.js';

/** pid_max's ceiling: no process has it, so the run that "owned" these is dead. */
const DEAD = 4194304;

t.test('what a dead run left is swept; a live run is left alone', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-sweep-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const dirs = { state: path.join(root, 'state'), run: path.join(root, 'run'), cgroupParent: 'wt', net: { bridge: 'wt0', table: 'wt', subnet: '10.215.0.0/16' } };
  const cg = path.join(root, 'cgroup');
  const made = [
    `state/bench/${DEAD}/crun/rootfs`,
    `state/bench/${process.pid}/crun`,
    `run/bench-crun-${DEAD}/wb1`,
    `run/bench-crun-${process.pid}`,
    `run/sandboxes/w1`,
    `cgroup/memory/wt-bench-crun-${DEAD}/c0`,
    `cgroup/pids/wt-bench-crun-${DEAD}/c1`,
    `cgroup/pids/wt-bench-crun-${process.pid}/c0`,
    `cgroup/cpu/wt-bench-node-${DEAD}/run`,
    `cgroup/cpu/wt-bench-unshare-${process.pid}/run`,
    `cgroup/pids/wt/w1`,
  ];
  for (const d of made) fs.mkdirSync(path.join(root, d), { recursive: true });
  sweepStale(dirs, cg);
  const exists = (d: string) => fs.existsSync(path.join(root, d));
  t.notOk(exists(`state/bench/${DEAD}`));
  t.notOk(exists(`run/bench-crun-${DEAD}`));
  t.notOk(exists(`cgroup/memory/wt-bench-crun-${DEAD}`));
  t.notOk(exists(`cgroup/pids/wt-bench-crun-${DEAD}`));
  t.notOk(exists(`cgroup/cpu/wt-bench-node-${DEAD}`), "a baseline's own cgroup of a dead run");
  for (const d of [`cgroup/cpu/wt-bench-unshare-${process.pid}/run`, `state/bench/${process.pid}/crun`, `run/bench-crun-${process.pid}`, 'run/sandboxes/w1', `cgroup/pids/wt-bench-crun-${process.pid}/c0`, 'cgroup/pids/wt/w1']) {
    t.ok(exists(d), `kept ${d}`);
  }
});
