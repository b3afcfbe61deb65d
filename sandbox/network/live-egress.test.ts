import t from 'tap';
import { WarrenError } from '../../lib/errors.js';
import type { AttachOptions, SandboxNetwork } from './host-network.js';
import { LiveEgress } from './live-egress.js';
import type { Egress } from './nftables.js';

/** A network that records each change as from -> to, takes `ms` per change, and fails on request. */
function fakeNetwork(fail: (to: Egress) => unknown = () => undefined, ms = 5) {
  const log: string[] = [];
  let running = 0;
  const net = {
    async setEgress(ip: string, from: AttachOptions, to: Egress): Promise<void> {
      if (running++) throw new Error('two changes at once');
      await new Promise((r) => setTimeout(r, ms));
      running--;
      log.push(`${ip}: ${JSON.stringify(from.egress)} -> ${JSON.stringify(to)}`);
      const err = fail(to);
      if (err) throw err;
    },
  };
  return { net: net as unknown as SandboxNetwork, log };
}

t.test('changes run one at a time, each from what the one before left', async (t) => {
  const { net, log } = fakeNetwork();
  const live = new LiveEgress(net, '10.88.0.5', { egress: 'none', publish: [] });
  await Promise.all([live.set('public'), live.set({ allow: ['198.51.100.0/24'] }), live.set('none')]);
  t.same(log, [
    '10.88.0.5: "none" -> "public"',
    '10.88.0.5: "public" -> {"allow":["198.51.100.0/24"]}',
    '10.88.0.5: {"allow":["198.51.100.0/24"]} -> "none"',
  ]);
});

t.test('a refused change leaves the old egress as the next one\'s start', async (t) => {
  const { net, log } = fakeNetwork((to) => (to === 'public' ? new WarrenError('WARREN_NET_EGRESS_SET', 'refused') : undefined));
  const live = new LiveEgress(net, '10.88.0.5', { egress: 'none' });
  await t.rejects(live.set('public'), { code: 'WARREN_NET_EGRESS_SET' });
  await live.set({ allow: ['198.51.100.0/24'] });
  t.equal(log[1], '10.88.0.5: "none" -> {"allow":["198.51.100.0/24"]}');
});

t.test('a change applied whose conntrack flush failed counts as applied', async (t) => {
  const { net, log } = fakeNetwork((to) => (to === 'none' ? new WarrenError('WARREN_NET_CONNTRACK', 'no conntrack') : undefined));
  const live = new LiveEgress(net, '10.88.0.5', { egress: 'public' });
  await t.rejects(live.set('none'), { code: 'WARREN_NET_CONNTRACK' });
  await live.set('public');
  t.equal(log[1], '10.88.0.5: "none" -> "public"');
});

t.test('close waits for the changes asked before it and refuses later ones', async (t) => {
  const { net, log } = fakeNetwork(undefined, 20);
  const live = new LiveEgress(net, '10.88.0.5', { egress: 'none' });
  const asked = [live.set('public'), live.set('none')];
  await live.close();
  t.equal(log.length, 2, 'both done when close resolves');
  await Promise.all(asked);
  await t.rejects(live.set('public'), { code: 'WARREN_NET_EGRESS_CLOSED', message: 'set egress of 10.88.0.5: its sandbox has ended' });
  await live.close(); // idempotent
});
