/**
 * Which runtime boots run now: every boot (a cold start's, a generic refill's) takes a turn here,
 * and policy.ts nextBoot says whose. A restarted server asked for ten functions at once on two
 * cores booted ten sandboxes at once, each about ten times slower, and answered the first request
 * no sooner than the last (2.5 s after a restart under the soak's load). In turn, the first cold
 * starts are answered early, and the generic pool's refills, which no request waits on, wait for
 * them.
 */
import { nextBoot, type BootLimits, type BootWait } from './policy.js';

interface Waiting extends BootWait {
  go(): void;
}

export class BootGate {
  readonly #limits: BootLimits;
  readonly #waiting: Waiting[] = [];
  #coldRunning = 0;

  constructor(limits: BootLimits) {
    this.#limits = limits;
  }

  /** Resolves when this boot may run, with the ms it waited (0: at once) and its release, to be
   * called once when the boot is over (booted or failed). */
  async enter(kind: BootWait['kind']): Promise<{ waitedMs: number; release: () => void }> {
    const since = performance.now();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      if (kind === 'cold') this.#coldRunning--;
      this.#pump();
    };
    let granted = false;
    let immediate = false;
    await new Promise<void>((go) => {
      this.#waiting.push({
        kind,
        since,
        go: () => {
          granted = true;
          go();
        },
      });
      this.#pump();
      immediate = granted;
      // past its patience it goes whatever runs: look again then
      if (!granted) setTimeout(() => this.#pump(), this.#limits.patienceMs + 1).unref();
    });
    return { waitedMs: immediate ? 0 : performance.now() - since, release };
  }

  #pump(): void {
    for (;;) {
      const i = nextBoot(this.#waiting, this.#coldRunning, this.#limits, performance.now());
      if (i === undefined) return;
      const [w] = this.#waiting.splice(i, 1) as [Waiting];
      if (w.kind === 'cold') this.#coldRunning++;
      w.go();
    }
  }
}
