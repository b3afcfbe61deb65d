/**
 * Network namespaces made ahead of time by the spawner and reused (sandbox/native/netpool.h says
 * why: a fresh netns and veth per sandbox cost 2-4 ms a spawn here). Two kinds: loopback only
 * (`--net none`) and bridged (a veth on the bridge, eth0 with an address of its own, which the
 * netns keeps across its sandboxes). A sandbox takes a free one; when it ends, the spawner
 * cleans it, and it comes back here, or is discarded (a socket of the old sandbox lingered) and
 * its address freed. `spare` free ones of each kind in use are kept ready, made off the spawn path.
 */
import { randomBytes } from 'node:crypto';
import type { AddressLease, SandboxNetwork } from './network/index.js';
import type { Spawner } from './spawner.js';

export type NetnsKind = 'loopback' | 'bridge';

export interface NetnsSlot {
  readonly id: string;
  readonly kind: NetnsKind;
  /** The address of a bridged one. */
  readonly address?: AddressLease;
}

export class NetnsPool {
  readonly #spawner: Spawner;
  readonly #network: () => Promise<SandboxNetwork>;
  readonly #spare: number;
  readonly #free: Record<NetnsKind, NetnsSlot[]> = { loopback: [], bridge: [] };
  readonly #making: Record<NetnsKind, number> = { loopback: 0, bridge: 0 };
  #closed = false;

  constructor(spawner: Spawner, network: () => Promise<SandboxNetwork>, spare = 2) {
    this.#spawner = spawner;
    this.#network = network;
    this.#spare = spare;
    spawner.onNetnsGone = (id) => this.#gone(id);
  }

  /** The spawner dropped a free one (reported clean, but its reset failed): forget it. */
  #gone(id: string): void {
    for (const kind of ['loopback', 'bridge'] as const) {
      const i = this.#free[kind].findIndex((s) => s.id === id);
      if (i >= 0) this.#drop(this.#free[kind].splice(i, 1)[0]!, false);
    }
  }

  /** A free netns of this kind: a ready one, or a new one when none is left. */
  async take(kind: NetnsKind): Promise<NetnsSlot> {
    const slot = this.#free[kind].pop() ?? (await this.#make(kind));
    this.#refill(kind);
    return slot;
  }

  /** Its sandbox ended: reused (clean) slots go back to the free list. */
  give(slot: NetnsSlot, reused: boolean): void {
    if (reused && !this.#closed) this.#free[slot.kind].push(slot);
    else this.#drop(slot, reused);
  }

  /** Drops every free netns; taken ones are dropped when given back. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const kind of ['loopback', 'bridge'] as const) for (const slot of this.#free[kind].splice(0)) this.#drop(slot, true);
  }

  #drop(slot: NetnsSlot, stillThere: boolean): void {
    if (stillThere) this.#spawner.delNetns(slot.id); // a discarded one is gone from the spawner already
    slot.address?.release();
  }

  async #make(kind: NetnsKind): Promise<NetnsSlot> {
    const id = `n${randomBytes(6).toString('hex')}`;
    if (kind === 'loopback') {
      await this.#spawner.addNetns({ id });
      return { id, kind };
    }
    const network = await this.#network();
    const address = network.address(id);
    try {
      // host end names are never reused: a discarded netns frees its veth only when the kernel gets to it
      const veth = { hostIf: `wrn${id.slice(1)}`, bridge: network.config.bridge, cidr: address.cidr, gateway: address.gateway };
      await this.#spawner.addNetns({ id, veth });
    } catch (err) {
      address.release();
      throw err;
    }
    return { id, kind, address };
  }

  /** Keeps `spare` free ones of a kind in use, made in the background. */
  #refill(kind: NetnsKind): void {
    while (!this.#closed && this.#free[kind].length + this.#making[kind] < this.#spare) {
      this.#making[kind]++;
      this.#make(kind)
        .then((slot) => (this.#closed ? this.#drop(slot, true) : this.#free[kind].push(slot)))
        .catch(() => {}) // a failure shows on the next take, which makes its own
        .finally(() => this.#making[kind]--);
    }
  }
}
