/**
 * Forgetting an address's flows (`conntrack -D -s|-r IP`) through one long-lived shell that runs
 * the tool, instead of a fork of the serving process for each run: every sandbox on the bridge
 * forgets its flows when it ends, twice (as source and as reply), and an egress that narrows once.
 *
 * Why not a spawn each time: a fork of a node process with a large heap marks all its memory
 * copy-on-write, and the server then pays a page fault (~13 us on the 2-core VM) for each page
 * it writes first after the fork. Measured on `warren serve` (--pool 2, keep-alive 1 ms, 20 first
 * requests each, 2026-11-30): libnftables' egress change, which writes ~2 MiB of fresh hash
 * tables per command, took 10-15 ms after such forks against 0.6-0.9 ms without them; a prewarm
 * start of a function with public egress 16.3-16.6 ms -> 5.5-6.2 ms, one without egress 4.5-4.8
 * -> 4.2-4.4 ms.
 *
 * The shell is started at first use, reads one `ID FLAG IP` line per run and answers `ID STATUS`.
 * It never keeps the process alive (unref'd while nothing waits on it), ends with its stdin (the
 * server's end, a crash's too), and is started again after it died. FLAG and IP are checked here,
 * so no other text ever reaches it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { WarrenError } from '../../lib/errors.js';

export type FlowFlag = '-s' | '-r';

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** $1 is the tool; exit 1 is "0 flow entries have been deleted", 127 and 126 are no tool. */
const SCRIPT = 'while read -r id flag ip; do "$1" -D "$flag" "$ip" >/dev/null 2>&1; echo "$id $?"; done';

interface Waiting {
  resolve: () => void;
  reject: (err: Error) => void;
  what: string;
}

export class Conntrack {
  readonly #binary: string;
  #child: ChildProcess | undefined;
  #text = '';
  #next = 0;
  readonly #waiting = new Map<number, Waiting>();

  constructor(binary = 'conntrack') {
    this.#binary = binary;
  }

  /** The shell's pid while it runs (tests: one process for every run). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Forgets the flows of `ip` as their source (-s) or reply (-r) address. */
  forget(flag: FlowFlag, ip: string): Promise<void> {
    const what = `'${this.#binary} -D ${flag} ${ip}'`;
    if ((flag !== '-s' && flag !== '-r') || !IPV4.test(ip)) return Promise.reject(new WarrenError('WARREN_NET_CONNTRACK', `run ${what}: not an IPv4 address and flag`));
    const child = this.#started();
    const id = this.#next++;
    return new Promise<void>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject, what });
      this.#refs(child);
      child.stdin!.write(`${id} ${flag} ${ip}\n`);
    });
  }

  /** Ends the shell (its stdin closed); what waits on it fails. */
  close(): void {
    this.#child?.stdin?.end();
  }

  #started(): ChildProcess {
    if (this.#child) return this.#child;
    const child = spawn('/bin/sh', ['-c', SCRIPT, 'sh', this.#binary], { stdio: ['pipe', 'pipe', 'ignore'] });
    this.#child = child;
    child.stdout!.setEncoding('latin1');
    child.stdout!.on('data', (d: string) => this.#answers(d));
    child.stdin!.on('error', () => {}); // its end is reported by 'exit'
    const ended = (why: string) => {
      if (this.#child !== child) return;
      this.#child = undefined;
      this.#text = '';
      for (const w of this.#waiting.values()) w.reject(new WarrenError('WARREN_NET_CONNTRACK', `run ${w.what}: the shell running conntrack ${why}`));
      this.#waiting.clear();
    };
    child.on('error', (err) => ended(`did not start (${err.message})`));
    child.on('exit', (code, signal) => ended(`ended (${signal ?? `exit ${code}`})`));
    child.unref();
    this.#refs(child);
    return child;
  }

  #answers(d: string): void {
    this.#text += d;
    let eol: number;
    while ((eol = this.#text.indexOf('\n')) >= 0) {
      const [id, status] = this.#text.slice(0, eol).split(' ').map(Number);
      this.#text = this.#text.slice(eol + 1);
      const w = this.#waiting.get(id as number);
      if (!w) continue;
      this.#waiting.delete(id as number);
      if (status === 127 || status === 126) w.reject(new WarrenError('WARREN_NET_CONNTRACK', `run ${w.what}: not found (Debian package conntrack)`));
      else w.resolve();
    }
    if (this.#child) this.#refs(this.#child);
  }

  /** The pipes hold the event loop only while a run is waited on. */
  #refs(child: ChildProcess): void {
    const hold = this.#waiting.size > 0;
    for (const s of [child.stdin, child.stdout] as Array<Socket | null>) {
      if (hold) s?.ref();
      else s?.unref();
    }
  }
}

/** The process's one shell (runs from anywhere share it, one after another). */
let shared: Conntrack | undefined;

/**
 * Drops the kernel's connection tracking entries of an address. The forward chain accepts
 * "established" traffic, and an address serves sandbox after sandbox: without this, a UDP flow
 * of a sandbox with egress (its entry lives ~2 minutes after the last packet) would let the next
 * sandbox at that address, with egress none, send on it. Only sandboxes that had egress or
 * published ports can have entries (anything else is dropped before its entry is confirmed), so
 * this runs only for them: -s for what it opened (masqueraded), -r for what reached it (-p).
 */
export function forgetFlows(ip: string, flags: readonly FlowFlag[] = ['-s', '-r']): Promise<void> {
  shared ??= new Conntrack();
  const c = shared;
  return flags.reduce<Promise<void>>((prev, flag) => prev.then(() => c.forget(flag, ip)), Promise.resolve());
}
