/**
 * `spawn --level runtime`: from the request to warren's node runtime answering on its socket.
 * Rows:
 *
 *   warren  SandboxHost.create() with full isolation running `node /warren/runtime.cjs` from the
 *           base image, its io dir bind-mounted; ready = its control socket's name appeared
 *           (inotify: it appears last, after the runtime warmed its HTTP path) and the control
 *           health `GET` answered 200 over it (answer.ts: a bare socket, like the driver's)
 *   node    baseline: the same node binary running the same runtime bundle on the host, no
 *           sandbox, started by the C driver (no fork of Node in its figure), ready by the same
 *           rule: the control socket's name appeared and the same GET answered 200. It runs in a cgroup
 *           of its own without limits (baselines/cgroup.ts says why)
 *
 * Both rows then kill what they started (SIGKILL) and wait for it to be gone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WarrenError } from '../lib/errors.js';
import { DEFAULT_PATH } from '../sandbox/index.js';
import { CONTROL_HEALTH_PATH, CONTROL_NAME, IO_DIR, RUNTIME_NODE_FLAGS, runtimeArgv, runtimeBinds, runtimeBundle, waitForSocket } from '../runtime/index.js';
import { baselineCgroup } from './baselines/cgroup.js';
import { runDriver } from './baselines/driver.js';
import { firstAnswer } from './answer.js';
import type { BenchNative } from './native.js';
import type { ScenarioContext, Subject } from './scenario.js';
import { warrenSubject } from './warren-row.js';

/** A runtime that has not answered by then counts as a failure (node boots in tens of ms). */
const ANSWER_TIMEOUT_MS = 30_000;

/** The runtime level's warren row: ready when the runtime answers on its socket. */
export function warrenRuntimeSubject(ctx: ScenarioContext): Promise<Subject> {
  return warrenSubject(ctx, {
    description: "SandboxHost.create with full isolation running warren's node runtime; ready when it answers the health GET on its control socket",
    spec: { argv: runtimeArgv(), binds: runtimeBinds(), io: { dst: IO_DIR } },
    async ready(sandbox) {
      // the sandbox ending before its runtime answers ends the wait: no 30 s stall per broken cycle
      const ended = new AbortController();
      void sandbox.exited.then((exit) => ended.abort(new Error(`the runtime exited with ${exit.code} before answering`)));
      const signal = AbortSignal.any([ended.signal, AbortSignal.timeout(ANSWER_TIMEOUT_MS)]);
      const waiting = waitForSocket(sandbox.ioDir as string, signal, CONTROL_NAME);
      try {
        await sandbox.ready();
      } catch (err) {
        void waiting.then((socket) => socket.close(), () => {}); // its fd, should it appear anyway
        throw err;
      }
      const socket = await waiting;
      let status: number;
      try {
        status = await firstAnswer(socket.path, CONTROL_HEALTH_PATH, signal);
      } finally {
        socket.close();
      }
      if (status !== 200) throw new WarrenError('WARREN_BENCH_NO_ANSWER', `the runtime answered ${status}`);
    },
  });
}

export async function nodeSubject(ctx: ScenarioContext, native: BenchNative): Promise<Subject> {
  const bundle = runtimeBundle();
  const cgroup = await baselineCgroup(ctx.dirs.cgroupParent, 'node');
  const sockets = path.join(ctx.workDir, 'node-sockets');
  fs.mkdirSync(sockets, { recursive: true, mode: 0o700 });
  const socket = path.join(sockets, 'n{slot}-{n}.sock');
  const controlSocket = path.join(sockets, 'n{slot}-{n}.ctl');
  const command = [process.execPath, ...RUNTIME_NODE_FLAGS, bundle, '--listen', socket, '--control', controlSocket];
  // the environment a sandbox gets, not the host's: NODE_OPTIONS or NODE_EXTRA_CA_CERTS (30 ms of
  // certificate parsing at each start, on this machine) would make the baseline do other work
  const env = { PATH: DEFAULT_PATH, HOME: '/root', HOSTNAME: 'bench' };
  let batches = 0;
  return {
    name: 'node',
    baseline: true,
    description: `plain node (${process.version}) running the same runtime bundle on the host, no sandbox; ready when it answers the same GET on its control socket`,
    batch(count, concurrency, tick, signal) {
      // each batch its own names: a socket of a killed process from the last batch is never mistaken
      const batch = `${batches++}-{n}`;
      const batchControl = controlSocket.replace('{n}', batch);
      const cmd = command.map((a) => (a === socket ? socket.replace('{n}', batch) : a === controlSocket ? batchControl : a));
      const answer = { socket: batchControl, path: CONTROL_HEALTH_PATH };
      return runDriver({ driver: native.driver, wrapper: cgroup.wrapper, command: cmd, env, answer, count, concurrency, tick, signal, timeoutMs: ANSWER_TIMEOUT_MS });
    },
    async close() {
      fs.rmSync(sockets, { recursive: true, force: true });
      await cgroup.close();
    },
  };
}
