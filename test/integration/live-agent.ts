/**
 * A node process in a sandbox that does one thing at a time when the host says so, so a test can
 * change the sandbox from the host between two steps (setLimits, setEgress) and see the effect
 * from inside. The host writes `go<n>` into the sandbox's io dir; the agent does it and answers
 * in `done<n>`. Steps:
 *
 *   alloc MIB             allocate and touch MIB MiB more, in 32 MiB blocks, and hold them
 *   fork                  run `/probe/probe forkbomb` and answer its JSON line
 *   connect IP PORT MS    a TCP connection: `data:<what it got>`, an errno, or `timeout`
 *   hold IP PORT          open a TCP connection and keep it (one at a time): as connect, 5 s
 *   held MS               send 'ping' on the held connection: as connect
 *   open IP PORT MS       a TCP connection, no data needed: `connected`, an errno, or `timeout`
 *   lookup NAME MS        dns.lookup (getaddrinfo, /etc/resolv.conf): `addr:<ip>`, an error code, or `timeout`
 *   fetch URL MS          fetch(): `data:<body>`, `error:<code>`
 *   read PATH             a file's contents
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Sandbox, SandboxHost, SandboxOptions } from '../../sandbox/index.js';
import { imageLayerPaths, NODE_IMAGE } from '../../snapshots/index.js';
import { ensureProbe } from '../probe/probe.js';

const AGENT = `const fs = require('fs');
const net = require('net');
const blocks = [];
let kept;
let step = 0;
function answer(out) {
  fs.writeFileSync('/io/done' + step + '.tmp', String(out));
  fs.renameSync('/io/done' + step + '.tmp', '/io/done' + step);
  step++;
  setTimeout(tick, 0);
}
/** The first data on sock, 'closed', an errno or 'timeout': whichever comes first. */
function tcp(sock, ms) {
  let done = false;
  const end = (out) => { if (done) return; done = true; clearTimeout(timer); answer(out); };
  const timer = setTimeout(() => end('timeout'), Number(ms));
  sock.on('data', (d) => end('data:' + d));
  sock.on('end', () => end('closed'));
  sock.on('error', (e) => end(e.code));
}
function tick() {
  const go = '/io/go' + step;
  if (!fs.existsSync(go)) return setTimeout(tick, 10);
  const [cmd, ...a] = fs.readFileSync(go, 'utf8').split(' ');
  if (cmd === 'alloc') {
    for (let mib = 0; mib < Number(a[0]); mib += 32) blocks.push(Buffer.alloc(32 << 20, 1));
    return answer('allocated ' + a[0]);
  }
  if (cmd === 'fork') return answer(require('child_process').execFileSync('/probe/probe', ['forkbomb']).toString().trim());
  if (cmd === 'connect') return tcp(net.connect(Number(a[1]), a[0]), a[2]);
  if (cmd === 'hold') {
    // answered once the server's greeting came: nothing of it is left to read later
    kept = net.connect(Number(a[1]), a[0]);
    return tcp(kept, 5000);
  }
  if (cmd === 'held') {
    for (const e of ['data', 'end', 'error']) kept.removeAllListeners(e);
    kept.write('ping');
    return tcp(kept, a[0]);
  }
  if (cmd === 'open') {
    const sock = net.connect(Number(a[1]), a[0]);
    const timer = setTimeout(() => { sock.destroy(); answer('timeout'); }, Number(a[2]));
    sock.on('connect', () => { clearTimeout(timer); sock.destroy(); answer('connected'); });
    return sock.on('error', (e) => { clearTimeout(timer); answer(e.code); });
  }
  if (cmd === 'lookup') {
    const timer = setTimeout(() => answer('timeout'), Number(a[1]));
    return require('dns').lookup(a[0], { family: 4 }, (err, ip) => { clearTimeout(timer); answer(err ? err.code : 'addr:' + ip); });
  }
  if (cmd === 'fetch') {
    return fetch(a[0], { signal: AbortSignal.timeout(Number(a[1])) }).then((r) => r.text())
      .then((b) => answer('data:' + b), (e) => answer('error:' + ((e.cause && e.cause.code) || e.name)));
  }
  if (cmd === 'read') return answer(fs.readFileSync(a[0], 'utf8'));
  answer('unknown step ' + cmd);
}
tick();
setTimeout(() => process.exit(0), 120000);`;

export interface Agent {
  sandbox: Sandbox;
  /** Does one step in the sandbox; its answer, or 'exited' when the sandbox ended first. */
  step(command: string): Promise<string>;
}

export async function startAgent(host: SandboxHost, state: string, extra: Partial<SandboxOptions> = {}): Promise<Agent> {
  const sandbox = await host.create({
    argv: ['node', '-e', AGENT],
    layers: imageLayerPaths(state, NODE_IMAGE),
    binds: [{ src: ensureProbe(), dst: '/probe', readonly: true }],
    io: { dst: '/io' },
    ...extra,
  });
  await sandbox.ready();
  let n = 0;
  let ended = false;
  void sandbox.exited.then(() => (ended = true));
  const step = async (command: string): Promise<string> => {
    const io = sandbox.ioDir as string;
    const k = n++;
    fs.writeFileSync(path.join(io, `go${k}.tmp`), command);
    fs.renameSync(path.join(io, `go${k}.tmp`), path.join(io, `go${k}`));
    const done = path.join(io, `done${k}`);
    for (let i = 0; i < 1500; i++) {
      if (ended) return 'exited';
      if (fs.existsSync(done)) return fs.readFileSync(done, 'utf8');
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`sandbox ${sandbox.id}: no answer to '${command}' in 30 s`);
  };
  return { sandbox, step };
}
