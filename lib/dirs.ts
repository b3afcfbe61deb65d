/**
 * Where warren keeps things on the host, and the names it gives host-wide objects. Everything is
 * overridable so that tests use their own prefix and dirs and never touch a real installation.
 *
 *   state  /var/lib/warren   layers, images, seccomp cache   WARREN_STATE_DIR
 *   run    /run/warren       per-sandbox run dirs, leases    WARREN_RUN_DIR
 *   cgroup warren            parent cgroup under each root   WARREN_CGROUP_PARENT
 *   bridge warren0           the sandboxes' bridge           WARREN_BRIDGE
 *   table  warren            the nftables table (inet)       WARREN_NFT_TABLE
 *   subnet 10.88.0.0/16      the sandboxes' addresses        WARREN_SUBNET
 *   resolv /etc/resolv.conf  the DNS forwarder's upstreams   WARREN_RESOLV_CONF
 *
 * Tests name their own resolv.conf (an empty one at least), so that no test's sandbox ever asks
 * this machine's real resolver.
 */
export interface Dirs {
  readonly state: string;
  readonly run: string;
  readonly cgroupParent: string;
  readonly net: {
    readonly bridge: string;
    readonly table: string;
    readonly subnet: string;
    /** The host's resolver configuration (sandbox/network/dns-forwarder.ts); /etc/resolv.conf if unset. */
    readonly resolvConf?: string;
  };
}

export function defaultDirs(env: NodeJS.ProcessEnv = process.env): Dirs {
  return {
    state: env.WARREN_STATE_DIR || '/var/lib/warren',
    run: env.WARREN_RUN_DIR || '/run/warren',
    cgroupParent: env.WARREN_CGROUP_PARENT || 'warren',
    net: {
      bridge: env.WARREN_BRIDGE || 'warren0',
      table: env.WARREN_NFT_TABLE || 'warren',
      subnet: env.WARREN_SUBNET || '10.88.0.0/16',
      resolvConf: env.WARREN_RESOLV_CONF || '/etc/resolv.conf',
    },
  };
}

/** The environment that makes defaultDirs() give `dirs` back: for a `warren` process started
 * with these dirs (the tests' servers, the soak's). `resolvConf` unset stays unset. */
export function dirsEnv(dirs: Dirs): Record<string, string> {
  return {
    WARREN_STATE_DIR: dirs.state,
    WARREN_RUN_DIR: dirs.run,
    WARREN_CGROUP_PARENT: dirs.cgroupParent,
    WARREN_BRIDGE: dirs.net.bridge,
    WARREN_NFT_TABLE: dirs.net.table,
    WARREN_SUBNET: dirs.net.subnet,
    ...(dirs.net.resolvConf ? { WARREN_RESOLV_CONF: dirs.net.resolvConf } : {}),
  };
}
