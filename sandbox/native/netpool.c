#include "netpool.h"

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netlink.h"
#include "nofork.h"
#include "nsholder.h"
#include "tcpmetrics.h"
#include "trace.h"

#define POOL_MAX 1024

/* in memory no child gets (nofork.h): released and reset on the spawner's thread every cycle */
static struct netslot *slots;
static size_t nslots;
static int host_netns = -1;

int netpool_init(struct werr *err) {
  slots = nofork_alloc(POOL_MAX * sizeof *slots, "the netns slots", err);
  if (!slots) return -1;
  host_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  return host_netns < 0 ? werr_set(err, "netns", errno, "open /proc/self/ns/net") : 0;
}

static int netns_make(struct werr *err) {
  struct ns_holder h;
  if (ns_holder_start(CLONE_NEWNET, &h, err) < 0) return -1;
  int fd = ns_holder_open(&h, "net", err);
  ns_holder_end(&h);
  return fd;
}

static int write_sysctl(const char *path, const char *value, struct werr *err) {
  int fd cleanup_close = open(path, O_WRONLY | O_CLOEXEC);
  size_t n = strlen(value);
  if (fd < 0 || write(fd, value, n) != (ssize_t)n) return werr_set(err, "netns", errno, "write '%s'", path);
  return 0;
}

/* Runs inside the slot's netns (the spawner is single-threaded, so setns is allowed and brief). */
static int configure(struct netslot *slot, const char *addr, struct werr *err) {
  if (setns(slot->fd, CLONE_NEWNET) < 0) return werr_set(err, "netns", errno, "enter netns '%s'", slot->id);
  int r = nl_loopback_up(err);
  /* no TIME_WAIT sockets: they would outlive the sandbox in a netns the next one gets */
  if (r == 0) r = write_sysctl("/proc/sys/net/ipv4/tcp_max_tw_buckets", "0", err);
  /* IPv4 only, as Docker's default: the nftables table drops IPv6 from the bridge anyway, and a
   * link-local address would only be one more thing a sandbox could leave behind */
  if (r == 0 && access("/proc/sys/net/ipv6/conf/all/disable_ipv6", F_OK) == 0)
    r = write_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1", err);
  if (r == 0 && slot->veth[0]) {
    r = nl_addr_add("eth0", addr, err);
    if (r == 0) r = nl_link_up("eth0", err);
    if (r == 0) r = nl_route_default(slot->gateway, "eth0", err);
  }
  if (setns(host_netns, CLONE_NEWNET) < 0) return werr_set(err, "netns", errno, "return to the spawner's netns");
  return r;
}

struct netslot *netpool_add(const char *id, const char *veth, const char *bridge, const char *addr, const char *gateway,
                            int isolated, struct werr *err) {
  if (nslots == POOL_MAX) return werr_set(err, "netns", ENOSPC, "%d pooled network namespaces", POOL_MAX), NULL;
  if (netpool_find(id)) return werr_set(err, "netns", EEXIST, "netns '%s' exists", id), NULL;
  struct netslot *slot = &slots[nslots];
  memset(slot, 0, sizeof *slot);
  snprintf(slot->id, sizeof slot->id, "%s", id);
  slot->fd = netns_make(err);
  if (slot->fd < 0) return NULL;
  if (veth) {
    snprintf(slot->veth, sizeof slot->veth, "%s", veth);
    snprintf(slot->gateway, sizeof slot->gateway, "%s", gateway);
    if (nl_veth_create(veth, "eth0", 0, slot->fd, err) < 0 || nl_link_set_master_up(veth, bridge, isolated, err) < 0) {
      close(slot->fd); /* the veth, if made, goes with the netns */
      return NULL;
    }
  }
  if (configure(slot, addr, err) < 0) {
    close(slot->fd);
    return NULL;
  }
  nslots++;
  return slot;
}

struct netslot *netpool_find(const char *id) {
  for (size_t i = 0; i < nslots; i++)
    if (!strcmp(slots[i].id, id)) return &slots[i];
  return NULL;
}

void netpool_del(struct netslot *slot) {
  close(slot->fd);
  *slot = slots[--nslots];
}

void netpool_drop_free(void) {
  for (size_t i = nslots; i-- > 0;) /* counting down: a delete moves the last slot here */
    if (!slots[i].in_use) netpool_del(&slots[i]);
}

/* Sockets in use in the current netns, from its sockstat counters ("TCP: inuse 0 orphan ..."):
 * per-netns counts that include orphaned connections. Reading /proc/net/tcp instead would walk
 * the kernel's whole socket hash, ~9 ms here, on every sandbox exit. */
static long sockets_in(const char *file) {
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/self/net/%s", file);
  int fd cleanup_close = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0; /* no IPv6, say: no such sockets */
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n <= 0) return 1; /* unreadable: count it as dirty */
  buf[n] = '\0';
  long total = 0;
  for (char *p = strstr(buf, "inuse "); p; p = strstr(p + 6, "inuse ")) total += strtol(p + 6, NULL, 10);
  return total;
}

/* The verdict (no socket left: clean) is reported before the reset: the runner may hand the netns
 * out at once, and a spawn into it is read only after this returns, the spawner being
 * single-threaded.
 *
 * The reset flushes tcp_metrics (every peer the old sandbox talked TCP to, even over lo, which the
 * next one could dump; ~30 us here, most of it the kernel's walk of its one metrics hash), deletes
 * the neighbour entries (what the old sandbox resolved: the next one would see them in
 * /proc/net/arp) and flushes the route cache, PMTU and redirect exceptions included
 * (route/flush bumps the netns's route and exception generation ids). It used to take eth0 down
 * and up, which flushes the same, but each bounce also ran the bridge's, fib's and IPv6's
 * netdevice notifiers, a linkwatch event and MLD work for the host end, and the default route had
 * to be added back: ~0.27 ms of CPU per sandbox (bench spawn, A/B in one process, 8x400 cycles
 * at concurrency 2: 3.92 -> 3.65 ms per cycle). Addresses and routes need no reset: the sandbox
 * has no CAP_NET_ADMIN over its netns. */
int netpool_release(struct netslot *slot, void (*report)(int reused, void *arg), void *arg) {
  struct werr err = {0};
  slot->in_use = 0;
  int entered = setns(slot->fd, CLONE_NEWNET) == 0;
  int dirty = !entered || sockets_in("sockstat") + sockets_in("sockstat6") > 0;
  report(!dirty, arg);
  int failed = 0;
  if (!dirty) failed = tcp_metrics_flush(&err) < 0;
  if (!dirty && !failed && slot->veth[0])
    failed = nl_neigh_flush(&err) < 0 || write_sysctl("/proc/sys/net/ipv4/route/flush", "1", &err) < 0;
  /* A discarded netns lives on until the kernel frees it, which an orphaned TCP connection delays
   * by minutes (its retransmits time out): its veth goes now, so that nothing of the sandbox stays
   * on the host's bridge meanwhile (the suite's leak check found one 3 minutes on) */
  if ((dirty || failed) && entered && slot->veth[0] && nl_link_del("eth0", &err) < 0) nl_link_down("eth0", &err);
  if (entered && setns(host_netns, CLONE_NEWNET) < 0) failed = 1; /* cannot happen; would leave us in the slot's netns */
  trace_mark("netns-clean");
  if (!dirty && !failed) return 0;
  netpool_del(slot);
  return dirty ? -1 : 1;
}
