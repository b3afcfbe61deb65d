/**
 * Sandbox networking, the TypeScript half (the per-sandbox veth work is netlink, in C:
 * sandbox/native/netlink.h). Once per warren start:
 *
 *   checkSubnetFree(subnet, await readRoutes(), { bridge });      // refuse overlapping subnets
 *   await ensureBridge({ name: bridge, address: '10.88.0.1/16' });
 *   await applyRules(rulesetScript({ bridge, subnet }));
 *   const ipam = new Ipam({ subnet, runDir });
 *   const dns = await DnsForwarder.start({ address: '10.88.0.1', subnet, resolvConf });  // the sandboxes' nameserver
 *
 * Per sandbox: ipam.allocate(id), then one `applyRules(sandboxElements('add', net))` batch (and
 * 'delete' when it goes), release().
 *
 * A user network (`warren network create`, user-networks.ts) is the same, with its own bridge,
 * table, subnet and run dir, from its record: `SandboxNetwork.open(networkConfig(dirs, record))`;
 * its sandboxes' names are records the DNS server reads live (names.ts).
 */
export { type Ipv4Net, formatCidr, formatIpv4, overlaps, parseCidr, parseIpv4 } from './cidr.js';
export { type AddressLease, Ipam, type IpamOptions } from './ipam.js';
export { checkSubnetFree, parseRoutes, readRoutes, type Route } from './routes.js';
export {
  applyRules,
  BLOCKED_RANGES,
  checkSandboxNet,
  deleteTableScript,
  type Egress,
  listPublished,
  parsePublishMap,
  type Publish,
  type Published,
  rulesetScript,
  type RulesetOptions,
  sandboxElements,
  type SandboxNet,
} from './nftables.js';
export { hostPortInUse, portInUse, servingPorts, takenBy } from './ports.js';
export { type BridgeOptions, ensureBridge, removeBridge } from './bridge.js';
export { type AttachOptions, type NetworkConfig, hostVeth, SandboxNetwork } from './host-network.js';
export { egressChangeScript, egressNarrows, purgeScript } from './egress-change.js';
export { LiveEgress } from './live-egress.js';
export { DnsForwarder, type DnsForwarderOptions, type DnsStats } from './dns-forwarder.js';
export { formatResolvConf, parseResolvConf, readResolvConf, type ResolvConf } from './resolv-conf.js';
export { checkName, publishNames, readNames, sweepNames, type NameRecord, type NameTable } from './names.js';
export {
  checkNetworkName,
  DEFAULT_POOL,
  hostNames,
  isNetworkOf,
  NetworkStore,
  planNetwork,
  type NetworkRecord,
  type PlanContext,
} from './user-networks.js';
export { claimSandboxName, claimNetwork, collectNetworks, createNetwork, type CreateNetworkOptions, networkConfig, removeNetwork } from './user-network-ops.js';
