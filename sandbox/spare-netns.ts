/**
 * Spare network namespaces, made by the spawner ahead of the sandboxes that join them (lib/spares.ts
 * for the policy; sandbox/native/netpool.h says why: a fresh netns and veth per sandbox cost 2-4 ms
 * a spawn here). Two kinds: loopback only (`--net none`) and bridged (a veth on the bridge, eth0
 * with an address of its own, which the netns keeps across its sandboxes).
 *
 * A used netns goes only to its tenant (SandboxOptions.tenant: the pool passes the function
 * version), never to another: what the kernel keeps per netns and no reset clears (interface and
 * SNMP counters, its address) would tell the next tenant about the last one's traffic. The
 * spawner cleans it when its sandbox ends (tcp_metrics, neighbours, route cache; or discards it if
 * a socket lingered); clean, it joins its tenant's free list (bounded, for the most recently used
 * tenants), else it is dropped and its address freed. Without a tenant a used netns is dropped.
 * `spare` fresh ones of each kind in use are kept ready, made off the spawn path.
 */
import { randomBytes } from 'node:crypto';
import { SpareLists } from '../lib/spares.js';
import { hostVeth, type AddressLease, type SandboxNetwork } from './network/index.js';
import type { Spawner } from './spawner.js';

export type NetnsKind = 'loopback' | 'bridge';

export interface NetnsSlot {
  readonly id: string;
  readonly kind: NetnsKind;
  /** The address of a bridged one. */
  readonly address?: AddressLease;
}

/** What the sandbox that took a netns did to it: never joined it (its create failed first), or
 * ended, leaving it clean (the spawner reported it reused) or not (discarded by the spawner). */
export type NetnsOutcome = 'unused' | 'clean' | 'dirty';

interface Slot extends NetnsSlot {
  /** Some sandbox ran in it: from then on it belongs to `tenant` alone. */
  used: boolean;
  tenant?: string;
}

/** Used namespaces kept per tenant, and the tenants that keep them: the most recently used. */
const TENANT_FREE_MAX = 8;
const TENANTS_MAX = 16;

export class SpareNetns {
  readonly #spawner: Spawner;
  readonly #network: () => Promise<SandboxNetwork>;
  /** Never used, by kind: for anyone. */
  readonly #fresh: SpareLists<Slot>;
  /** Used and cleaned, by kind and tenant: for that tenant only. */
  readonly #used = new SpareLists<Slot>({ target: 0, maxFree: TENANT_FREE_MAX, maxKeys: TENANTS_MAX });
  /** Dropped by the spawner (netns_gone) before their sandbox's end reached give(). */
  readonly #gone = new Set<string>();

  constructor(spawner: Spawner, network: () => Promise<SandboxNetwork>, spare = 2) {
    this.#spawner = spawner;
    this.#network = network;
    // room for as many again: one a failed create gives back unused is kept, not deleted (a
    // netns's teardown holds the kernel's rtnl lock for tens of ms)
    this.#fresh = new SpareLists({ target: spare, maxFree: 2 * spare, maxKeys: 2 });
    spawner.onNetnsGone = (id) => this.#gone.add(id);
  }

  /** A netns of this kind: one this tenant used before, a fresh one, or a new one when none is
   * left. A fresh one's replacement is made now, or once `until` settles (SandboxHost.create
   * passes its sandbox's start: spare-sandboxes.ts take() says why). */
  async take(kind: NetnsKind, tenant?: string, until?: Promise<unknown>): Promise<NetnsSlot> {
    if (tenant !== undefined) {
      const key = usedKey(kind, tenant);
      for (const old of this.#used.touch(key)) this.#drop(old);
      const slot = this.#takeFrom(this.#used, key);
      if (slot) return slot;
    }
    this.#fresh.touch(kind);
    const slot = this.#takeFrom(this.#fresh, kind) ?? (await this.#make(kind));
    const refill = () => this.#refill(kind);
    if (until) void until.then(refill, refill);
    else refill();
    return slot;
  }

  /** Its sandbox ended (or never started): kept for its tenant, back among the fresh ones, or
   * dropped. */
  give(netns: NetnsSlot, outcome: NetnsOutcome, tenant?: string): void {
    const slot = netns as Slot;
    if (this.#gone.delete(slot.id)) return void slot.address?.release(); // the spawner dropped it
    if (outcome === 'dirty') return void slot.address?.release(); // discarded by the spawner already
    if (outcome === 'clean') {
      slot.used = true;
      slot.tenant = tenant;
    }
    const kept = !slot.used
      ? this.#fresh.give(slot.kind, slot, true)
      : slot.tenant !== undefined
        ? this.#used.give(usedKey(slot.kind, slot.tenant), slot, true)
        : 'drop';
    if (kept === 'drop') this.#drop(slot);
  }

  /** Drops every free netns; taken ones are dropped when given back. Idempotent. */
  async close(): Promise<void> {
    for (const slot of [...this.#fresh.close(), ...this.#used.close()]) this.#drop(slot);
  }

  /** Free ones serve no request: nothing waits on them, so destroying is closing. */
  async destroy(): Promise<void> {
    await this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #takeFrom(lists: SpareLists<Slot>, key: string): Slot | undefined {
    for (let slot = lists.take(key); slot; slot = lists.take(key)) {
      if (!this.#gone.delete(slot.id)) return slot;
      slot.address?.release(); // reset failed after its verdict: gone from the spawner
    }
    return undefined;
  }

  /** Deletes a netns the spawner still holds and frees its address. */
  #drop(slot: Slot): void {
    if (!this.#gone.delete(slot.id)) this.#spawner.delNetns(slot.id);
    slot.address?.release();
  }

  async #make(kind: NetnsKind, again = true): Promise<Slot> {
    const id = `n${randomBytes(6).toString('hex')}`;
    if (kind === 'loopback') {
      await this.#spawner.addNetns({ id });
      return { id, kind, used: false };
    }
    const network = await this.#network();
    const address = network.address(id);
    try {
      // host end names are never reused: a discarded netns frees its veth only when the kernel gets to it
      // a user network's ports are not isolated: its sandboxes talk to each other
      const veth = { hostIf: hostVeth(id), bridge: network.config.bridge, cidr: address.cidr, gateway: address.gateway, peers: network.config.user !== undefined };
      await this.#spawner.addNetns({ id, veth });
    } catch (err) {
      address.release();
      // the bridge removed by someone else: put back (network.repair), then once more
      if (again && (await network.repair().catch(() => [])).length > 0) return this.#make(kind, false);
      throw err;
    }
    return { id, kind, address, used: false };
  }

  /** Keeps `spare` fresh ones of a kind in use, made in the background. */
  #refill(kind: NetnsKind): void {
    for (let n = this.#fresh.startMaking(kind); n > 0; n--) {
      this.#make(kind).then(
        (slot) => void (this.#fresh.made(kind, slot) === 'drop' && this.#drop(slot)),
        () => void this.#fresh.made(kind, undefined), // a failure shows on the next take, which makes its own
      );
    }
  }
}

function usedKey(kind: NetnsKind, tenant: string): string {
  return `${kind}\0${tenant}`;
}
