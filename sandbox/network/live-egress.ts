/**
 * The egress of one live sandbox on the bridge: what it is now, changes one at a time (each reads
 * the state the one before left), and none after its sandbox ended. The sandbox's release waits
 * for a change in flight before its undo runs, so the undo deletes what the table really holds.
 */
import { WarrenError, isWarrenError } from '../../lib/errors.js';
import type { AttachOptions, SandboxNetwork } from './host-network.js';
import type { Egress } from './nftables.js';

export class LiveEgress {
  readonly #network: SandboxNetwork;
  readonly #ip: string;
  #opts: AttachOptions;
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(network: SandboxNetwork, ip: string, opts: AttachOptions) {
    this.#network = network;
    this.#ip = ip;
    this.#opts = opts;
  }

  set(egress: Egress): Promise<void> {
    if (this.#closed) return Promise.reject(new WarrenError('WARREN_NET_EGRESS_CLOSED', `set egress of ${this.#ip}: its sandbox has ended`));
    const run = this.#queue.then(async () => {
      try {
        await this.#network.setEgress(this.#ip, this.#opts, egress);
      } catch (err) {
        // the elements changed, only forgetting the old flows failed: the next change starts from the new
        if (isWarrenError(err, 'WARREN_NET_CONNTRACK')) this.#opts = { ...this.#opts, egress };
        throw err;
      }
      this.#opts = { ...this.#opts, egress };
    });
    this.#queue = run.catch(() => {}); // a failed change left the old egress: the next starts from it
    return run;
  }

  /** Refuses changes from now on and waits for those already asked for. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
  }
}
