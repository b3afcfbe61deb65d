/**
 * Every error code warren raises, and whose fault it is. `platform`: warren or its host failed
 * (a bug, a missing kernel feature, a full disk, a dead spawner): the caller may retry, the router
 * answers 5xx. `user`: what the caller asked for is wrong or cannot be (a bad option, an unknown
 * image, a port in use, a command that cannot be executed): retrying the same fails the same, the
 * router answers 4xx. A code not listed here does not compile (WarrenError takes an ErrorCode).
 */
export type Fault = 'platform' | 'user';

export const ERROR_CODES = {
  // the control API (router/control-api.ts)
  WARREN_API_BODY_TOO_LARGE: 'user',
  WARREN_API_INVALID: 'user',
  WARREN_API_NOT_FOUND: 'user',
  // the control API's token file cannot be made or read
  WARREN_API_TOKEN: 'platform',
  WARREN_API_UNAUTHORIZED: 'user',
  // command line
  // a prompt (a secret's value) was cancelled with Ctrl-C
  WARREN_ARG_CANCELLED: 'user',
  WARREN_ARG_INVALID: 'user',
  WARREN_ARG_SIZE: 'user',
  // bench
  WARREN_BENCH_BASELINE: 'platform',
  WARREN_BENCH_BUILD: 'platform',
  WARREN_BENCH_CLEANUP: 'platform',
  WARREN_BENCH_LEFTOVER: 'platform',
  WARREN_BENCH_LOAD: 'platform',
  WARREN_BENCH_NO_ANSWER: 'platform',
  WARREN_BENCH_REPORT: 'platform',
  WARREN_BENCH_SERVE: 'platform',
  // `warren deploy`'s bundle: a build error, no default export, a `cloudflare:*` import warren
  // does not provide
  WARREN_BUNDLE_BUILD: 'user',
  WARREN_BUNDLE_EXPORT: 'user',
  WARREN_BUNDLE_UNSUPPORTED: 'user',
  // cgroups
  WARREN_CGROUP_CREATE: 'platform',
  WARREN_CGROUP_DESTROY: 'platform',
  WARREN_CGROUP_KILL: 'platform',
  WARREN_CGROUP_LIMITS: 'platform',
  WARREN_CGROUP_LIST: 'platform',
  // a memory limit below what the sandbox uses (v1 refuses it): the caller asked for too little
  WARREN_CGROUP_MEMORY_BUSY: 'user',
  WARREN_CGROUP_NAME: 'platform',
  WARREN_CGROUP_SET_LIMITS: 'platform',
  WARREN_CGROUP_STATS: 'platform',
  WARREN_CGROUP_UNSUPPORTED: 'platform',
  // a project's config file (warren.toml, wrangler.toml/json/jsonc): a key of the wrong shape,
  // none found, not parseable, a binding warren does not provide
  WARREN_CONFIG_INVALID: 'user',
  WARREN_CONFIG_NOT_FOUND: 'user',
  WARREN_CONFIG_PARSE: 'user',
  WARREN_CONFIG_UNSUPPORTED: 'user',
  // CLI commands talking to a server's control API: where it is and its token (a user's set-up),
  // a server that cannot be reached or answers what warren never says
  WARREN_CLIENT_CONFIG: 'user',
  WARREN_CLIENT_RESPONSE: 'platform',
  WARREN_CLIENT_UNREACHABLE: 'platform',
  // deploys through the control API: a spec of the wrong shape or asking for what cannot be (a
  // limit out of range, a bad egress), and a module that does not load (the live version keeps
  // serving)
  WARREN_DEPLOY_ENV_TOO_LARGE: 'user',
  WARREN_DEPLOY_INVALID: 'user',
  WARREN_DEPLOY_LOAD: 'user',
  WARREN_DEPLOY_NO_SPACE: 'platform',
  // `warren dev`'s own server did not start, or ended by itself
  WARREN_DEV_SERVER: 'platform',
  // functions, as the data plane serves them and the pool runs them
  WARREN_FN_ADOPT: 'platform',
  WARREN_FN_BAD_REQUEST: 'user',
  WARREN_FN_BODY_TOO_LARGE: 'user',
  // the function's instance failed mid-exchange (an OOM, a crash): the function's doing
  WARREN_FN_CRASHED: 'user',
  WARREN_FN_NOT_FOUND: 'user',
  // the function's queue is full (429) or its request waited past its timeout for an instance
  WARREN_FN_QUEUE_FULL: 'user',
  WARREN_FN_QUEUE_TIMEOUT: 'user',
  WARREN_FN_SECRET_NOT_FOUND: 'user',
  // no instance could start: warren's fault, the request may be retried
  WARREN_FN_START: 'platform',
  WARREN_FN_TIMEOUT: 'user',
  WARREN_FN_VERSION_NOT_FOUND: 'user',
  // the host
  WARREN_HOST_CLOSED: 'platform',
  // serve --handoff cannot pass connections to sandboxes (koffi or libc's sendmsg missing)
  WARREN_HOST_HANDOFF: 'platform',
  WARREN_HOST_KERNEL: 'platform',
  WARREN_HOST_NOT_ROOT: 'platform',
  // the sandboxes' uid span overlaps ids the host uses: the operator moves it (--uid-base)
  WARREN_HOST_UID_RANGE: 'user',
  // images and layers
  WARREN_IMAGE_BAD_INPUT: 'user',
  WARREN_IMAGE_COPY: 'platform',
  WARREN_IMAGE_CORRUPT: 'platform',
  WARREN_IMAGE_IMPORT_CORRUPT: 'user',
  WARREN_IMAGE_IMPORT_HEADER_LIMIT: 'user',
  WARREN_IMAGE_IMPORT_READ: 'user',
  WARREN_IMAGE_IMPORT_TOO_LARGE: 'user',
  WARREN_IMAGE_IMPORT_UNSAFE: 'user',
  WARREN_IMAGE_IMPORT_UNSUPPORTED: 'user',
  WARREN_IMAGE_IMPORT_WRITE: 'platform',
  WARREN_IMAGE_INVALID_NAME: 'user',
  WARREN_IMAGE_IN_USE: 'user',
  WARREN_IMAGE_LDD: 'platform',
  WARREN_IMAGE_LIB_NOT_FOUND: 'platform',
  WARREN_IMAGE_NOT_FOUND: 'user',
  WARREN_IMAGE_READ: 'platform',
  WARREN_IMAGE_RESERVED: 'user',
  WARREN_IMAGE_WRITE: 'platform',
  WARREN_LAYER_INVALID_DIGEST: 'platform',
  WARREN_LAYER_NOT_FOUND: 'platform',
  WARREN_LAYER_OPAQUE: 'platform',
  WARREN_LAYER_RECORD_CORRUPT: 'platform',
  WARREN_LAYER_RECORD_READ: 'platform',
  WARREN_LAYER_RECORD_WRITE: 'platform',
  WARREN_LAYER_UNSUPPORTED_ENTRY: 'user',
  WARREN_LAYER_WHITEOUT: 'platform',
  // io dirs (sandbox/io-dir.ts)
  WARREN_IO_BAD_CAP: 'user',
  WARREN_IO_MKDIR: 'platform',
  WARREN_IO_MOUNT: 'platform',
  WARREN_IO_UMOUNT: 'platform',
  // kept sandboxes
  // a kept sandbox whose loop device is still attached (its sandbox is dying)
  WARREN_KEPT_BUSY: 'user',
  WARREN_KEPT_CORRUPT: 'platform',
  WARREN_KEPT_EXISTS: 'user',
  WARREN_KEPT_IMAGE: 'platform',
  WARREN_KEPT_LOCK: 'platform',
  WARREN_KEPT_NAME: 'user',
  WARREN_KEPT_NOT_FOUND: 'user',
  // commit or rm of a kept sandbox that still runs
  WARREN_KEPT_RUNNING: 'user',
  WARREN_KEPT_WALK: 'platform',
  // libc through koffi (lib/libc.ts)
  WARREN_LIBC_LOAD: 'platform',
  // a pidfd call other than on a process that ended (lib/pidfd.ts)
  WARREN_PIDFD_CALL: 'platform',
  // leases
  WARREN_LEASE_ADOPT: 'platform',
  WARREN_LEASE_EXHAUSTED: 'platform',
  WARREN_LEASE_TAKE: 'platform',
  // function logs (runner/logs.ts)
  WARREN_LOGS_DIR: 'platform',
  WARREN_LOGS_NAME: 'platform',
  // network
  WARREN_NET_ALLOCATE: 'platform',
  WARREN_NET_BAD_ADDRESS: 'platform',
  WARREN_NET_BRIDGE: 'platform',
  WARREN_NET_CONNTRACK: 'platform',
  WARREN_NET_DNS_LISTEN: 'platform',
  WARREN_NET_EGRESS: 'user',
  WARREN_NET_EGRESS_BLOCKED: 'user',
  WARREN_NET_EGRESS_CLOSED: 'platform',
  WARREN_NET_EGRESS_SET: 'platform',
  WARREN_NET_EXHAUSTED: 'platform',
  WARREN_NET_FIREWALL: 'platform',
  WARREN_NET_NFT: 'platform',
  WARREN_NET_NFT_NAME: 'platform',
  WARREN_NET_PORT_IN_USE: 'user',
  WARREN_NET_PROC: 'platform',
  WARREN_NET_PUBLISH: 'user',
  WARREN_NET_ROUTES: 'platform',
  WARREN_NET_SUBNET_OVERLAP: 'platform',
  WARREN_NET_SUBNET_SMALL: 'platform',
  WARREN_NET_SYSCTL: 'platform',
  // user networks (`warren network`, `warren run --network NAME`)
  WARREN_NETWORK_BAD_NAME: 'user',
  // the configured bridge name leaves no room for a network's bridge name (15 bytes)
  WARREN_NETWORK_BRIDGE_NAME: 'user',
  WARREN_NETWORK_EXISTS: 'user',
  WARREN_NETWORK_IN_USE: 'user',
  WARREN_NETWORK_INTERNAL_PUBLISH: 'user',
  // --name of a running sandbox on that network
  WARREN_NETWORK_NAME_TAKEN: 'user',
  WARREN_NETWORK_NOT_FOUND: 'user',
  // no --subnet and no free /24 left in the pool
  WARREN_NETWORK_NO_SUBNET: 'user',
  WARREN_NETWORK_OPTION: 'user',
  // a network record in the state dir cannot be read or written
  WARREN_NETWORK_STATE: 'platform',
  WARREN_NETWORK_SUBNET_OVERLAP: 'user',
  // the spawner protocol: a request the caller built too big or with a NUL byte
  WARREN_PROTOCOL_FRAME_SIZE: 'user',
  WARREN_PROTOCOL_NUL: 'user',
  WARREN_PROTOCOL_TOO_MANY_FIELDS: 'user',
  // the registry (registry/): its SQLite file in the state dir
  WARREN_REGISTRY_CLOSED: 'platform',
  WARREN_REGISTRY_CORRUPT: 'platform',
  // discarding a version that was live once: the caller's bug, history names it
  WARREN_REGISTRY_DEPLOYED: 'platform',
  WARREN_REGISTRY_IO: 'platform',
  // a second warren serve on a state dir another one uses
  WARREN_REGISTRY_LOCKED: 'user',
  WARREN_REGISTRY_OPEN: 'platform',
  // live restore's host-side records (sandbox/restore-records.ts)
  WARREN_RESTORE_RECORD_WRITE: 'platform',
  // an error the router did not expect (a bug): answered 500, its message kept out of the answer
  WARREN_ROUTER_INTERNAL: 'platform',
  // the node runtime
  WARREN_RUNTIME_BAD_ANSWER: 'platform',
  // a module that fails to import or has no fetch handler: the function's fault
  WARREN_RUNTIME_LOAD_FAILED: 'user',
  WARREN_RUNTIME_NOT_BUILT: 'platform',
  WARREN_RUNTIME_NOT_LISTENING: 'platform',
  WARREN_RUNTIME_NOT_SOCKET: 'platform',
  // the runtime could not run a cron firing (the module has no scheduled() handler)
  WARREN_RUNTIME_SCHEDULED: 'user',
  WARREN_RUNTIME_SOCKET_OPEN: 'platform',
  WARREN_RUNTIME_UNHEALTHY: 'platform',
  // the run dir's boot lock (lib/run-dir.ts)
  WARREN_RUN_DIR: 'platform',
  // sandboxes
  WARREN_SANDBOX_BAD_OPTION: 'user',
  WARREN_SANDBOX_CREATE: 'platform',
  WARREN_SANDBOX_EXEC: 'user',
  WARREN_SANDBOX_EXISTS: 'platform',
  WARREN_SANDBOX_EXITED: 'user',
  WARREN_SANDBOX_NOT_PARKED: 'platform',
  WARREN_SANDBOX_PIPE: 'platform',
  WARREN_SANDBOX_NO_VETH: 'user',
  WARREN_SANDBOX_RELEASE: 'platform',
  WARREN_SANDBOX_SPAWN: 'platform',
  // a stdio file the host cannot open for the sandbox
  WARREN_SANDBOX_STDIO: 'user',
  WARREN_SANDBOX_UNDO: 'platform',
  // seccomp
  WARREN_SECCOMP_CACHE: 'platform',
  WARREN_SECCOMP_CLOSED: 'platform',
  WARREN_SECCOMP_COMPILE: 'platform',
  WARREN_SECCOMP_LIBRARY: 'platform',
  WARREN_SECCOMP_POLICY: 'platform',
  // the soak driver (bench/soak/)
  WARREN_SOAK_SERVE: 'platform',
  WARREN_SOAK_SETUP: 'platform',
  // the spawner
  WARREN_SPAWNER_ATTACH: 'platform',
  WARREN_SPAWNER_CLOSED: 'platform',
  WARREN_SPAWNER_GONE: 'platform',
  WARREN_SPAWNER_PROTOCOL: 'platform',
  WARREN_SPAWNER_START: 'platform',
  // named volumes (volumes/): a record unreadable, a name taken, its image failing to be made or
  // mounted (mkfs, losetup, mount), rm of one that a sandbox uses, its lock held too long by
  // another warren process, a bad name or size
  WARREN_VOLUME_CORRUPT: 'platform',
  WARREN_VOLUME_EXISTS: 'user',
  WARREN_VOLUME_IMAGE: 'platform',
  WARREN_VOLUME_IN_USE: 'user',
  WARREN_VOLUME_LOCK: 'platform',
  WARREN_VOLUME_NAME: 'user',
  WARREN_VOLUME_NOT_FOUND: 'user',
  WARREN_VOLUME_SIZE: 'user',
} as const satisfies Record<string, Fault>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}
