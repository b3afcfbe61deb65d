/* Pooled network namespaces. Making a netns costs ~0.45 ms in clone here, a veth ~0.7 ms, and
 * tearing one down holds the kernel's rtnl lock for tens of ms, which stalls every other veth
 * and netns operation: with a fresh netns per sandbox, the bridge network cost 2-4 ms a spawn.
 * So the spawner makes network namespaces ahead of time, each with lo up and, for the bridge,
 * its veth attached (isolated) and eth0 configured, and a sandbox joins one with setns. When
 * the sandbox ends, its netns is cleaned and reused, or discarded if anything of the sandbox
 * might remain in it.
 *
 * What a sandbox could leave in its netns: it has no CAP_NET_ADMIN there (the netns belongs to
 * the host's user namespace), so no address, route, rule, qdisc or sysctl of its own; what the
 * kernel keeps for it is sockets (orphaned TCP connections, TIME_WAIT: tcp_max_tw_buckets is 0
 * in pooled namespaces), tcp_metrics (the peers it talked TCP to), neighbour entries and the route
 * cache (PMTU exceptions). Cleaning checks that no socket is left (the netns's sockstat counters;
 * a netns with one is discarded), then flushes tcp_metrics, deletes the neighbours and flushes the
 * route cache (netpool.c says why not eth0 down and up). What no reset clears (interface and SNMP
 * counters) is why the runner hands a used netns only to later sandboxes of the same tenant
 * (sandbox/spare-netns.ts). */
#ifndef WARREN_NETPOOL_H
#define WARREN_NETPOOL_H

#include "error.h"

struct netslot {
  char id[32];
  int fd;           /* /proc/<holder>/ns/net */
  char veth[16];    /* host end, "" for a loopback-only netns */
  char gateway[16]; /* for the default route put back by cleaning */
  int in_use;
};

/* Opens the spawner's own netns, to come back to after working inside a pooled one. */
int netpool_init(struct werr *err);
/* A new netns: lo up; with veth, a veth whose host end joins bridge (port-isolated unless
 * `isolated` is 0: a user network's sandboxes reach each other) and whose peer is eth0 with addr
 * and a default route via gateway. */
struct netslot *netpool_add(const char *id, const char *veth, const char *bridge, const char *addr, const char *gateway,
                            int isolated, struct werr *err);
struct netslot *netpool_find(const char *id);
/* After its sandbox ended: report(reused) is called as soon as the netns is known clean (no socket
 * left) or not, before the reset (tcp_metrics, neighbours and route cache flushed). Returns 0 when clean and free again, -1
 * when discarded (reported so), 1 when reported reused but the reset failed: the slot is gone
 * and the runner must be told (netns_gone). */
int netpool_release(struct netslot *slot, void (*report)(int reused, void *arg), void *arg);
void netpool_del(struct netslot *slot);
/* Drops every slot no sandbox is in (the runner that knew them is gone). */
void netpool_drop_free(void);

#endif
