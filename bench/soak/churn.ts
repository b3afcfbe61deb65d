/**
 * Deploys, rollbacks and deletes going on under the load: in turn, a new version of `churn`,
 * another, a rollback, and a short-lived `tmp-N` deployed, asked once and deleted. One at a time,
 * and never while a fault runs (the `exclusive` lock they share), so that what is deployed before
 * and after a fault can be compared.
 */
import { CHURN, churnModule, tmpModule } from './functions.js';
import type { Server } from './server.js';

export class Lock {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(fn, fn);
    this.#tail = next.catch(() => {});
    return next;
  }
}

export class Churn {
  readonly #server: Server;
  readonly #lock: Lock;
  #n = 1;
  #tmp = 0;
  #op = 0;
  ops = { deploys: 0, rollbacks: 0, deletes: 0 };
  readonly failures: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();

  constructor(server: Server, lock: Lock) {
    this.#server = server;
    this.#lock = lock;
  }

  start(everyMs: number): void {
    let busy = false;
    this.#timer = setInterval(() => {
      // one at a time: a step still waiting (behind a fault) or running skips this turn
      if (busy) return;
      busy = true;
      this.#running = this.#lock
        .run(() => this.#step())
        .catch((err) => void this.failures.push(String(err)))
        .finally(() => (busy = false));
    }, everyMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }

  /** The next version of churn (its number), as a deploy of it. */
  async deployNext(): Promise<{ status: number; text: string; n: number }> {
    const n = ++this.#n;
    const r = await this.#server.api('PUT', `/v1/functions/${CHURN.name}`, { module: churnModule(n) });
    return { status: r.status, text: r.text, n };
  }

  async #step(): Promise<void> {
    const op = this.#op++ % 4;
    const s = this.#server;
    if (op < 2) {
      const r = await this.deployNext();
      if (r.status !== 201 && r.status !== 200) this.failures.push(`deploy churn v${r.n}: ${r.status} ${r.text.slice(0, 200)}`);
      else this.ops.deploys++;
    } else if (op === 2) {
      const r = await s.api('POST', `/v1/functions/${CHURN.name}/rollback`, {});
      if (r.status !== 200) this.failures.push(`rollback churn: ${r.status} ${r.text.slice(0, 200)}`);
      else this.ops.rollbacks++;
    } else {
      const name = `tmp-${++this.#tmp}`;
      const d = await s.api('PUT', `/v1/functions/${name}`, { module: tmpModule(this.#tmp) });
      if (d.status !== 201) return void this.failures.push(`deploy ${name}: ${d.status} ${d.text.slice(0, 200)}`);
      this.ops.deploys++;
      const asked = await fetch(`${s.data}/${name}/`).then(async (r) => `${r.status} ${await r.text()}`);
      if (asked !== `200 tmp ${this.#tmp}`) this.failures.push(`${name} answered ${asked.slice(0, 200)}`);
      const del = await s.api('DELETE', `/v1/functions/${name}`);
      if (del.status !== 204 && del.status !== 200) return void this.failures.push(`delete ${name}: ${del.status} ${del.text.slice(0, 200)}`);
      this.ops.deletes++;
      const after = await fetch(`${s.data}/${name}/`).then((r) => r.status);
      if (after !== 404) this.failures.push(`${name} answered ${after} after its delete, not 404`);
    }
  }
}
