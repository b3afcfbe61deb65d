/**
 * Numbered leases shared by every warren process on the host: a lease is a file created with
 * O_EXCL in a directory, holding its owner's pid, so two processes never hold the same number
 * (uid ranges now, addresses later). A crashed owner's leases stay until `warren gc` finds the
 * owner dead and sweeps them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { errnoOf, WarrenError } from './errors.js';
import { ended, readProcStat } from './proc-stat.js';

export interface Lease {
  readonly n: number;
  release(): void;
}

export class LeaseSet {
  readonly dir: string;
  readonly size: number;
  #next: number;
  /** Numbers this process released, most recent last: taken again first, so that a number's
   * per-range state (the spawner's cached user namespace for its uid range) is reused. */
  readonly #freed: number[] = [];

  constructor(dir: string, size: number) {
    this.dir = dir;
    this.size = size;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // start somewhere random so concurrent processes rarely race for the same number
    this.#next = Math.floor(Math.random() * size);
  }

  take(owner: string): Lease {
    while (this.#freed.length > 0) {
      const lease = this.#tryTake(this.#freed.pop()!, owner);
      if (lease) return lease;
    }
    for (let i = 0; i < this.size; i++) {
      const lease = this.#tryTake((this.#next + i) % this.size, owner);
      if (lease) {
        this.#next = (lease.n + 1) % this.size;
        return lease;
      }
    }
    throw new WarrenError('WARREN_LEASE_EXHAUSTED', `all ${this.size} leases in '${this.dir}' are taken`);
  }

  /** The lease, or undefined when another holder has it (EEXIST). */
  #tryTake(n: number, owner: string): Lease | undefined {
    const file = path.join(this.dir, String(n));
    try {
      fs.writeFileSync(file, `${process.pid} ${owner}\n`, { flag: 'wx', mode: 0o600 });
    } catch (err) {
      if (errnoOf(err) === 'EEXIST') return undefined;
      throw new WarrenError('WARREN_LEASE_TAKE', `take lease '${file}'`, { cause: err });
    }
    return this.#lease(n, file);
  }

  /**
   * Live restore: lease n, taken for `owner` by a process that died, becomes this process's (its
   * pid written in; a lease already gone is taken again). Throws WARREN_LEASE_ADOPT when another
   * owner holds n now.
   */
  adopt(n: number, owner: string): Lease {
    const file = path.join(this.dir, String(n));
    const [, held] = (safeRead(file) ?? '').trim().split(' ');
    if (held !== undefined && held !== owner) throw new WarrenError('WARREN_LEASE_ADOPT', `adopt lease '${file}' for '${owner}': '${held}' holds it`);
    try {
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, `${process.pid} ${owner}\n`, { mode: 0o600 });
      fs.renameSync(tmp, file);
    } catch (err) {
      throw new WarrenError('WARREN_LEASE_ADOPT', `adopt lease '${file}' for '${owner}'`, { cause: err });
    }
    return this.#lease(n, file);
  }

  #lease(n: number, file: string): Lease {
    let released = false;
    return {
      n,
      release: () => {
        if (released) return;
        released = true;
        unlinkQuiet(file);
        this.#freed.push(n);
      },
    };
  }

  /** Leases whose owner process is gone: [number, owner text]. */
  stale(isAlive: (pid: number) => boolean = pidAlive): Array<{ n: number; owner: string }> {
    return this.entries(isAlive)
      .filter((e) => !e.alive)
      .map(({ n, owner }) => ({ n, owner }));
  }

  /** Every lease, with whether its owner process lives (an unreadable lease counts as dead). */
  entries(isAlive: (pid: number) => boolean = pidAlive): Array<{ n: number; owner: string; alive: boolean }> {
    return safeReaddir(this.dir).filter((name) => !name.endsWith('.tmp')).map((name) => {
      const text = safeRead(path.join(this.dir, name));
      const [pid, owner = ''] = (text ?? '').trim().split(' ');
      return { n: Number(name), owner, alive: text !== undefined && isAlive(Number(pid)) };
    });
  }

  drop(n: number): void {
    fs.rmSync(path.join(this.dir, String(n)), { force: true });
  }
}

/**
 * Whether the process `pid` runs: kill(0) finds it and it is no zombie (proc-stat.ts). A holder
 * that ended under an init that does not reap (a container's) stayed a zombie, and its leases,
 * addresses and names stayed taken for good. A state /proc does not show (hidepid) counts as
 * running: nothing of a live holder's is ever swept.
 */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (errnoOf(err) !== 'EPERM') return false;
  }
  const stat = readProcStat(pid);
  return stat === null || (stat !== undefined && !ended(stat.state));
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function safeRead(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** unlink, a file already gone being fine: one syscall, where rmSync({ force }) lstat's first. */
export function unlinkQuiet(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
}
