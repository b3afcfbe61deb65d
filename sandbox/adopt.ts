/**
 * Live restore: a sandbox that a process which died left running becomes a Sandbox of this one,
 * from its restore record (restore-records.ts) and what the spawner says it holds (Spawner.held).
 * Each thing the record names changes hands: the uid and address leases get this process's pid,
 * the cgroup, netns, nftables elements, run and io dirs and layer record are taken as they are,
 * and stdout and stderr are the read ends the spawner held, opened again through its /proc entry.
 * A record whose sandbox the spawner does not hold (its owner died before the spawn request went
 * out, or its spawner is dead) becomes a Sandbox that has exited: its release frees the host side.
 */
import fs from 'node:fs';
import type { CgroupDriver } from './cgroups/index.js';
import type { LeaseSet } from '../lib/leases.js';
import { LiveEgress, type AddressLease, type Egress, type SandboxNetwork } from './network/index.js';
import { ownerlessSpawners, readRestoreRecords, recordSandbox, recordSpawnerLives, removeRestoreRecord, type RestoreRecord } from './restore-records.js';
import { endSpawner } from './spawner-identity.js';
import { Sandbox, type ReleaseStep } from './sandbox.js';
import type { SpareNetns, NetnsSlot } from './spare-netns.js';
import type { Held, Spawning } from './spawn-request.js';
import { Spawner } from './spawner.js';
import path from 'node:path';
import { ATTACH_SOCKET } from './defaults.js';
import { SandboxStdio } from './stdio.js';
import { isWarrenError, WarrenError } from '../lib/errors.js';
import { messageOf } from '../lib/cleanup.js';

export interface AdoptContext {
  run: string;
  spawner: Spawner;
  uids: LeaseSet;
  cgroups: CgroupDriver;
  netns: SpareNetns;
  network(): Promise<SandboxNetwork>;
  fault?: (step: ReleaseStep) => void;
}

const SIGKILL = 9;
/** How long to wait for a spawner whose runner just died to listen (attachWaiting). */
const ATTACH_WAIT_MS = 3000;

/**
 * The spawner the last process left, waiting on the run dir's socket; undefined when none does.
 * One that its runner's death has not reached yet (records of its sandboxes name it, alive, and
 * their owner dead) listens a moment later: it is waited for, up to ATTACH_WAIT_MS, rather than
 * left to kill what it holds when its grace window ends.
 *
 * A restart can land as that window ends: the spawner refuses (its socket closed, or closed
 * with this connection in its backlog: Spawner.attach says undefined) and is still there,
 * killing its sandboxes; or it hangs. One still alive and ownerless when the wait is over is
 * ended here (SIGKILL, then gone: endSpawner), so that its records are a dead spawner's, which
 * adoptAll releases and the sweep clears. Left alive, it would die a moment later, and what its
 * sandboxes held on the host would stay until the next start.
 */
export async function attachWaiting(run: string): Promise<Spawner | undefined> {
  const socket = path.join(run, ATTACH_SOCKET);
  const end = Date.now() + ATTACH_WAIT_MS;
  for (;;) {
    let spawner: Spawner | undefined;
    let failure: unknown;
    try {
      spawner = await Spawner.attach(socket);
    } catch (err) {
      // a hung spawner, or a socket that cannot be reached: ended below if it is an ownerless one
      if (!isWarrenError(err, 'WARREN_SPAWNER_ATTACH')) throw err;
      failure = err;
    }
    if (spawner) return spawner;
    const waiting = ownerlessSpawners(run);
    if (waiting.length === 0) {
      if (failure) throw failure;
      return undefined;
    }
    if (failure || Date.now() > end) {
      for (const pid of waiting) {
        if (!(await endSpawner(socket, pid))) throw new WarrenError('WARREN_SPAWNER_ATTACH', `the spawner ${pid} at '${socket}' neither attached nor ended when killed`, { cause: failure });
      }
      // a killed one leaves its socket; no other listens there (an attached spawner has none)
      fs.rmSync(socket, { force: true });
      return undefined;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Every restore record becomes a Sandbox: adopted when the spawner holds it, released at once
 * when it does not or it ended meanwhile (`ended`: their `exited` settles once released). What
 * the spawner holds without a record (a spare whose owner died) is killed. A sandbox that cannot
 * be adopted is killed, and left to the sweep.
 */
export async function adoptAll(ctx: AdoptContext): Promise<{ adopted: Sandbox[]; ended: Sandbox[] }> {
  const spawner = ctx.spawner;
  const held = new Map<string, Held>(spawner.held.map((h) => [h.id, h]));
  const spawnerLives = recordSpawnerLives(ctx.run);
  const adopted: Sandbox[] = [];
  const ended: Sandbox[] = [];
  for (const rec of readRestoreRecords(ctx.run)) {
    const h = rec.spawner === spawner.pid ? held.get(rec.id) : undefined;
    held.delete(rec.id);
    // another spawner's that still lives (attachWaiting ended any ownerless one): not ours to judge
    if (!h && rec.spawner !== spawner.pid && spawnerLives(rec.spawner)) continue;
    try {
      const sandbox = await adoptSandbox(ctx, rec, h);
      (h && !h.exited ? adopted : ended).push(sandbox);
    } catch (err) {
      if (h) spawner.kill(rec.id, SIGKILL);
      process.stderr.write(`warren: cannot adopt sandbox ${rec.id}: ${messageOf(err)}\n`);
    }
  }
  for (const h of held.values()) if (!h.exited) spawner.kill(h.id, SIGKILL);
  return { adopted, ended };
}

/** Its Sandbox; `held` undefined: one that has exited, and releases the host side at once. */
export async function adoptSandbox(ctx: AdoptContext, rec: RestoreRecord, held: Held | undefined): Promise<Sandbox> {
  const lease = ctx.uids.adopt(rec.lease, rec.id);
  let address: AddressLease | undefined;
  let disallow: (() => Promise<void>) | undefined;
  let egress: LiveEgress | undefined;
  try {
    if (rec.netns.ip) {
      const network = await ctx.network();
      address = network.adoptAddress(rec.netns.id, rec.netns.ip);
      disallow = network.adoptElements(rec.netns.ip);
      if (rec.net) egress = new LiveEgress(network, rec.netns.ip, rec.net);
    }
  } catch (err) {
    lease.release();
    throw err;
  }
  const slot = { id: rec.netns.id, kind: rec.netns.kind, ...(address ? { address } : {}), used: false } as NetnsSlot;
  const pool = ctx.netns;
  const stdio = SandboxStdio.adopt(rec.stdio, held ? openHeld(ctx.spawner.pid, held) : {});
  const restore = held ? recordSandbox(ctx.run, { ...rec, spawner: ctx.spawner.pid }) : { update() {}, remove: () => removeRestoreRecord(ctx.run, rec.id) };
  const net = {
    ip: rec.netns.ip,
    setEgress: egress
      ? async (e: Egress) => {
          await egress.set(e);
          restore.update({ net: { ...rec.net, egress: e } });
        }
      : undefined,
    release: async (reused: boolean) => {
      try {
        await egress?.close();
        await disallow?.();
      } finally {
        pool.give(slot, reused ? 'clean' : 'dirty', rec.tenant);
      }
    },
  };
  const spawning: Spawning = held?.spawning ?? {
    ready: Promise.reject(new WarrenError('WARREN_SANDBOX_EXITED', `sandbox '${rec.id}' ended while no process owned it`)),
    exited: Promise.resolve({ code: null, signal: SIGKILL }),
  };
  const sandbox = new Sandbox({
    id: rec.id,
    spawner: ctx.spawner,
    spawning,
    stdio,
    cgroup: ctx.cgroups.open(rec.cgroup, rec.oomBase),
    lease,
    net,
    rundir: rec.rundir,
    ioDir: rec.ioDir,
    layerRecord: rec.layerRecord,
    uidBase: rec.uidBase,
    memoryBytes: rec.memoryBytes,
    record: rec.record,
    restore,
    ...(ctx.fault ? { fault: ctx.fault } : {}),
  });
  if (held && !held.exited) await sandbox.ready();
  return sandbox;
}

/** The read ends the spawner held, opened again through its /proc entry (a new open file of the
 * same pipe: the spawner keeps its own). */
function openHeld(spawnerPid: number, held: Held): { stdout?: number; stderr?: number } {
  const open = (fd: number | undefined) => {
    if (fd === undefined) return undefined;
    try {
      return fs.openSync(`/proc/${spawnerPid}/fd/${fd}`, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch {
      return undefined; // its output is lost, not the sandbox
    }
  };
  const stdout = open(held.stdout);
  const stderr = open(held.stderr);
  return { ...(stdout !== undefined ? { stdout } : {}), ...(stderr !== undefined ? { stderr } : {}) };
}
