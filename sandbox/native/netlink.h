/* Sandbox networking over rtnetlink: no `ip` process on the spawn path.
 *
 * Who calls what, and when (netpool.h says why network namespaces are pooled):
 *
 *   netns_add (made ahead, off the spawn path), in the spawner, host root:
 *     a holder makes a fresh netns; nl_loopback_up in it
 *     nl_veth_create("wrn1a2b3c4d5e6f", "eth0", -1, netns_fd)   host end here, peer born in it
 *     nl_link_set_master_up("wrn1a2b3c4d5e6f", "warren0", 1)     on the bridge, port-isolated
 *     in the netns: nl_addr_add("eth0", "10.88.0.5/16"), nl_link_up, nl_route_default
 *   spawn: the child setns()es into the pooled netns; no netlink call on the spawn path
 *   exit: the spawner checks the netns is clean and resets it for the next sandbox
 *     (nl_neigh_flush and the route cache), or drops it: the kernel then frees both veth ends
 *   netns_del / a failed add: nl_link_del
 *
 * Every function opens its own NETLINK_ROUTE socket and closes it before returning. A cached
 * socket would save ~5 us per call but is bound to the netns it was created in, and the spawner
 * and the child live in different ones; one socket per call cannot be used in the wrong one.
 * Every request carries NLM_F_ACK; an NLMSG_ERROR becomes a werr with its errno and a message
 * naming the interface. Interface names are at most 15 bytes (IFNAMSIZ - 1).
 */
#ifndef WARREN_NETLINK_H
#define WARREN_NETLINK_H

#include <sys/types.h>

#include "error.h"

/* Creates a veth pair: `host_if` in the caller's netns, `peer_if` directly in the netns of
 * `peer_netns_fd` when it is >= 0 (an open /proc/<pid>/ns/net), else of `peer_netns_pid`. */
int nl_veth_create(const char *host_if, const char *peer_if, pid_t peer_netns_pid, int peer_netns_fd,
                   struct werr *err);

/* Makes `ifname` a port of `bridge`, with bridge port isolation on when `isolated` (isolated
 * ports forward only to non-isolated ones: the bridge's own address, never each other), then
 * brings it up. Isolation is set before the link comes up, so no frame ever crosses unisolated. */
int nl_link_set_master_up(const char *ifname, const char *bridge, int isolated, struct werr *err);

/* Deletes a link (both ends of a veth go). ENODEV is reported, not ignored. */
int nl_link_del(const char *ifname, struct werr *err);

/* Takes a link down: its neighbours and the routes through it go with it (the address stays). */
int nl_link_down(const char *ifname, struct werr *err);

/* Deletes every neighbour entry (ARP, and NDP were IPv6 on) of the current netns: what a bounce
 * of its links would flush, without the link events (netpool.c says why that matters). An entry
 * the kernel dropped meanwhile (ENOENT) counts as deleted. */
int nl_neigh_flush(struct werr *err);

/* lo up in the current netns (an ioctl: one call, no netlink round trip). */
int nl_loopback_up(struct werr *err);

/* Creates a bridge (kind "bridge"), down and without address. For tests and tools; warren's
 * own bridge is made once per start by sandbox/network/bridge.ts. */
int nl_bridge_create(const char *name, struct werr *err);

/* Child side, inside the sandbox's netns. `cidr` is "10.88.0.5/16". */
int nl_addr_add(const char *ifname, const char *cidr, struct werr *err);
int nl_link_up(const char *ifname, struct werr *err);
int nl_route_default(const char *gateway, const char *ifname, struct werr *err);

#endif
