/* rtnetlink requests for sandbox networking; netlink.h says who calls what and why one socket per
 * call. A request is built in a fixed buffer (struct nlreq), sent, and its ACK read back. */
#include "netlink.h"

#include <arpa/inet.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define NLREQ_SIZE 1024

struct nlreq {
  union {
    struct nlmsghdr hdr;
    char buf[NLREQ_SIZE];
  };
};

/* Starts a request of `type` with `flags` (NLM_F_REQUEST | NLM_F_ACK added) and a family header
 * of `hdrlen` bytes copied from `fam`. */
static void req_init(struct nlreq *r, uint16_t type, uint16_t flags, const void *fam, size_t hdrlen) {
  memset(r->buf, 0, sizeof r->buf);
  r->hdr.nlmsg_len = NLMSG_LENGTH(hdrlen);
  r->hdr.nlmsg_type = type;
  r->hdr.nlmsg_flags = flags | NLM_F_REQUEST | NLM_F_ACK;
  memcpy(NLMSG_DATA(&r->hdr), fam, hdrlen);
}

/* Appends an attribute; returns it (for nesting), or NULL when the buffer is full. */
static struct rtattr *req_put(struct nlreq *r, uint16_t type, const void *data, size_t len) {
  size_t at = NLMSG_ALIGN(r->hdr.nlmsg_len);
  if (at + RTA_SPACE(len) > sizeof r->buf) return NULL;
  struct rtattr *a = (struct rtattr *)(r->buf + at);
  a->rta_type = type;
  a->rta_len = (unsigned short)RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(a), data, len);
  r->hdr.nlmsg_len = (uint32_t)(at + RTA_SPACE(len));
  return a;
}

static struct rtattr *req_put_str(struct nlreq *r, uint16_t type, const char *s) {
  return req_put(r, type, s, strlen(s) + 1);
}

static struct rtattr *req_nest(struct nlreq *r, uint16_t type) {
  return req_put(r, type, NULL, 0);
}

static void req_nest_end(struct nlreq *r, struct rtattr *nest) {
  nest->rta_len = (unsigned short)(r->buf + r->hdr.nlmsg_len - (char *)nest);
}

/* Sends the request on a fresh socket and waits for its ACK. `what` names the object for the
 * message ("create veth 'wrn1' peer 'eth0'"). */
static int req_run(struct nlreq *r, int overflow, const char *stage, const char *what, struct werr *err) {
  if (overflow) return werr_set(err, stage, EMSGSIZE, "%s: request too large", what);
  int fd cleanup_close = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return werr_set(err, stage, errno, "%s: netlink socket", what);
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  r->hdr.nlmsg_seq = 1;
  if (sendto(fd, r->buf, r->hdr.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
    return werr_set(err, stage, errno, "%s: send", what);
  char buf[4096] __attribute__((aligned(NLMSG_ALIGNTO)));
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return werr_set(err, stage, errno, "%s: receive the reply", what);
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != r->hdr.nlmsg_seq || h->nlmsg_type != NLMSG_ERROR) continue;
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
        return werr_set(err, stage, EBADMSG, "%s: short netlink error message", what);
      const struct nlmsgerr *e = NLMSG_DATA(h);
      if (e->error == 0) return 0; /* the ACK */
      return werr_set(err, stage, -e->error, "%s", what);
    }
    if (n == 0) return werr_set(err, stage, ECONNRESET, "%s: netlink closed before the reply", what);
  }
}

static int ifindex(const char *ifname, const char *stage, struct werr *err) {
  unsigned idx = if_nametoindex(ifname);
  if (!idx) return werr_set(err, stage, errno, "find interface '%s'", ifname);
  return (int)idx;
}

static int check_name(const char *ifname, const char *stage, struct werr *err) {
  size_t len = ifname ? strlen(ifname) : 0;
  if (len == 0 || len >= IFNAMSIZ) return werr_set(err, stage, EINVAL, "interface name '%s' must have 1 to 15 bytes", ifname ? ifname : "");
  return 0;
}

int nl_veth_create(const char *host_if, const char *peer_if, pid_t peer_netns_pid, int peer_netns_fd,
                   struct werr *err) {
  if (check_name(host_if, "veth", err) < 0 || check_name(peer_if, "veth", err) < 0) return -1;
  char what[96];
  snprintf(what, sizeof what, "create veth '%s' with peer '%s'", host_if, peer_if);
  struct nlreq r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
  req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
  int over = !req_put_str(&r, IFLA_IFNAME, host_if);
  struct rtattr *linkinfo = req_nest(&r, IFLA_LINKINFO);
  over |= !linkinfo || !req_put_str(&r, IFLA_INFO_KIND, "veth");
  struct rtattr *data = req_nest(&r, IFLA_INFO_DATA);
  /* VETH_INFO_PEER holds a whole ifinfomsg followed by the peer's own attributes */
  struct rtattr *peer = req_put(&r, VETH_INFO_PEER, &ifi, sizeof ifi);
  over |= !data || !peer || !req_put_str(&r, IFLA_IFNAME, peer_if);
  if (peer_netns_fd >= 0) {
    uint32_t nsfd = (uint32_t)peer_netns_fd;
    over |= !req_put(&r, IFLA_NET_NS_FD, &nsfd, sizeof nsfd);
  } else {
    uint32_t pid = (uint32_t)peer_netns_pid;
    over |= !req_put(&r, IFLA_NET_NS_PID, &pid, sizeof pid);
  }
  if (!over) {
    req_nest_end(&r, peer);
    req_nest_end(&r, data);
    req_nest_end(&r, linkinfo);
  }
  return req_run(&r, over, "veth", what, err);
}

int nl_bridge_create(const char *name, struct werr *err) {
  if (check_name(name, "bridge", err) < 0) return -1;
  char what[64];
  snprintf(what, sizeof what, "create bridge '%s'", name);
  struct nlreq r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
  req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
  int over = !req_put_str(&r, IFLA_IFNAME, name);
  struct rtattr *linkinfo = req_nest(&r, IFLA_LINKINFO);
  over |= !linkinfo || !req_put_str(&r, IFLA_INFO_KIND, "bridge");
  if (!over) req_nest_end(&r, linkinfo);
  return req_run(&r, over, "bridge", what, err);
}

/* RTM_NEWLINK on an existing link: `up` sets IFF_UP, `master` > 0 attaches it to that bridge. */
static int link_change(int idx, int up, int master, const char *stage, const char *what, struct werr *err) {
  struct nlreq r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = idx};
  if (up) {
    ifi.ifi_flags = IFF_UP;
    ifi.ifi_change = IFF_UP;
  }
  req_init(&r, RTM_NEWLINK, 0, &ifi, sizeof ifi);
  int over = 0;
  if (master > 0) {
    uint32_t m = (uint32_t)master;
    over = !req_put(&r, IFLA_MASTER, &m, sizeof m);
  }
  return req_run(&r, over, stage, what, err);
}

/* Bridge port options go to the bridge driver: RTM_SETLINK with family AF_BRIDGE and a nested
 * IFLA_PROTINFO (an AF_UNSPEC request would ignore it). The link must already be a port. */
static int brport_isolate(int idx, const char *what, struct werr *err) {
  struct nlreq r;
  struct ifinfomsg ifi = {.ifi_family = AF_BRIDGE, .ifi_index = idx};
  req_init(&r, RTM_SETLINK, 0, &ifi, sizeof ifi);
  struct rtattr *prot = req_nest(&r, IFLA_PROTINFO | NLA_F_NESTED);
  uint8_t on = 1;
  int over = !prot || !req_put(&r, IFLA_BRPORT_ISOLATED, &on, sizeof on);
  if (!over) req_nest_end(&r, prot);
  return req_run(&r, over, "bridge-port", what, err);
}

int nl_link_set_master_up(const char *ifname, const char *bridge, int isolated, struct werr *err) {
  int idx = ifindex(ifname, "bridge-port", err);
  if (idx < 0) return -1;
  int br = ifindex(bridge, "bridge-port", err);
  if (br < 0) return -1;
  char what[96];
  snprintf(what, sizeof what, "attach '%s' to bridge '%s'", ifname, bridge);
  if (link_change(idx, 0, br, "bridge-port", what, err) < 0) return -1;
  if (isolated) {
    snprintf(what, sizeof what, "isolate bridge port '%s'", ifname);
    if (brport_isolate(idx, what, err) < 0) return -1;
  }
  snprintf(what, sizeof what, "bring '%s' up", ifname);
  return link_change(idx, 1, 0, "bridge-port", what, err);
}

int nl_link_up(const char *ifname, struct werr *err) {
  int idx = ifindex(ifname, "link", err);
  if (idx < 0) return -1;
  char what[64];
  snprintf(what, sizeof what, "bring '%s' up", ifname);
  return link_change(idx, 1, 0, "link", what, err);
}

int nl_link_del(const char *ifname, struct werr *err) {
  if (check_name(ifname, "link-del", err) < 0) return -1;
  char what[64];
  snprintf(what, sizeof what, "delete link '%s'", ifname);
  struct nlreq r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
  req_init(&r, RTM_DELLINK, 0, &ifi, sizeof ifi);
  int over = !req_put_str(&r, IFLA_IFNAME, ifname); /* by name: no lookup, one round trip */
  return req_run(&r, over, "link-del", what, err);
}

/* "10.88.0.5/16" -> address and prefix length. */
static int parse_cidr(const char *cidr, struct in_addr *addr, int *prefix, struct werr *err) {
  char ip[INET_ADDRSTRLEN];
  const char *slash = strchr(cidr, '/');
  size_t len = slash ? (size_t)(slash - cidr) : strlen(cidr);
  char *end = NULL;
  long p = slash ? strtol(slash + 1, &end, 10) : -1;
  if (!slash || len >= sizeof ip || end == slash + 1 || *end || p < 0 || p > 32)
    return werr_set(err, "address", EINVAL, "address '%s' is not a.b.c.d/prefix", cidr);
  memcpy(ip, cidr, len);
  ip[len] = '\0';
  if (inet_pton(AF_INET, ip, addr) != 1) return werr_set(err, "address", EINVAL, "address '%s' is not a.b.c.d/prefix", cidr);
  *prefix = (int)p;
  return 0;
}

int nl_addr_add(const char *ifname, const char *cidr, struct werr *err) {
  struct in_addr addr;
  int prefix = 0;
  if (parse_cidr(cidr, &addr, &prefix, err) < 0) return -1;
  int idx = ifindex(ifname, "address", err);
  if (idx < 0) return -1;
  char what[96];
  snprintf(what, sizeof what, "add address %s to '%s'", cidr, ifname);
  struct nlreq r;
  struct ifaddrmsg ifa = {.ifa_family = AF_INET, .ifa_prefixlen = (unsigned char)prefix, .ifa_index = (unsigned)idx};
  req_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof ifa);
  int over = !req_put(&r, IFA_LOCAL, &addr, sizeof addr);
  over |= !req_put(&r, IFA_ADDRESS, &addr, sizeof addr);
  if (prefix < 31) { /* as `ip addr add ... brd +` would: the subnet's broadcast address */
    struct in_addr brd = {.s_addr = addr.s_addr | htonl(prefix ? 0xffffffffu >> prefix : 0xffffffffu)};
    over |= !req_put(&r, IFA_BROADCAST, &brd, sizeof brd);
  }
  return req_run(&r, over, "address", what, err);
}

int nl_route_default(const char *gateway, const char *ifname, struct werr *err) {
  struct in_addr gw;
  if (inet_pton(AF_INET, gateway, &gw) != 1) return werr_set(err, "route", EINVAL, "gateway '%s' is not an IPv4 address", gateway);
  int idx = ifindex(ifname, "route", err);
  if (idx < 0) return -1;
  char what[96];
  snprintf(what, sizeof what, "add default route via %s dev '%s'", gateway, ifname);
  struct nlreq r;
  struct rtmsg rtm = {.rtm_family = AF_INET,
                      .rtm_table = RT_TABLE_MAIN,
                      .rtm_protocol = RTPROT_BOOT,
                      .rtm_scope = RT_SCOPE_UNIVERSE,
                      .rtm_type = RTN_UNICAST};
  req_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rtm, sizeof rtm);
  uint32_t oif = (uint32_t)idx;
  int over = !req_put(&r, RTA_GATEWAY, &gw, sizeof gw);
  over |= !req_put(&r, RTA_OIF, &oif, sizeof oif);
  return req_run(&r, over, "route", what, err);
}

int nl_link_down(const char *ifname, struct werr *err) {
  int idx = ifindex(ifname, "link", err);
  if (idx < 0) return -1;
  char what[64];
  snprintf(what, sizeof what, "take '%s' down", ifname);
  struct nlreq r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = idx, .ifi_flags = 0, .ifi_change = IFF_UP};
  req_init(&r, RTM_NEWLINK, 0, &ifi, sizeof ifi);
  return req_run(&r, 0, "link", what, err);
}

/* One RTM_DELNEIGH for an entry of the dump: its family, device and destination. */
static int neigh_del(const struct ndmsg *found, const void *dst, size_t len, struct werr *err) {
  struct nlreq r;
  struct ndmsg ndm = {.ndm_family = found->ndm_family, .ndm_ifindex = found->ndm_ifindex};
  req_init(&r, RTM_DELNEIGH, 0, &ndm, sizeof ndm);
  int over = !req_put(&r, NDA_DST, dst, len);
  struct werr e = {0};
  /* ENOENT: the kernel dropped it meanwhile (gc, timer), which is as good */
  if (req_run(&r, over, "neigh", "delete a neighbour entry", &e) < 0 && e.errnum != ENOENT) return *err = e, -1;
  return 0;
}

int nl_neigh_flush(struct werr *err) {
  struct { struct ndmsg ndm[64]; unsigned char dst[64][16]; size_t len[64]; size_t n; } found;
  int more = 1;
  /* a dump is read in full before deleting (deleting while the kernel walks its table could skip
   * entries); a netns with more than 64 entries is read again until none is left */
  while (more) {
    found.n = 0;
    more = 0;
    int fd cleanup_close = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return werr_set(err, "neigh", errno, "list neighbours: netlink socket");
    struct nlreq r;
    struct ndmsg ndm = {.ndm_family = AF_UNSPEC};
    req_init(&r, RTM_GETNEIGH, NLM_F_DUMP, &ndm, sizeof ndm);
    r.hdr.nlmsg_flags &= (uint16_t)~NLM_F_ACK;
    r.hdr.nlmsg_seq = 1;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(fd, r.buf, r.hdr.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
      return werr_set(err, "neigh", errno, "list neighbours: send");
    char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
    for (int done = 0; !done;) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return werr_set(err, "neigh", n < 0 ? errno : ECONNRESET, "list neighbours: receive");
      for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_type == NLMSG_DONE) { done = 1; break; }
        if (h->nlmsg_type == NLMSG_ERROR) {
          const struct nlmsgerr *e = NLMSG_DATA(h);
          return werr_set(err, "neigh", e->error ? -e->error : EBADMSG, "list neighbours");
        }
        if (h->nlmsg_type != RTM_NEWNEIGH) continue;
        const struct ndmsg *m = NLMSG_DATA(h);
        int len = (int)RTM_PAYLOAD(h);
        for (const struct rtattr *a = (const struct rtattr *)((const char *)m + NLMSG_ALIGN(sizeof *m)); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
          if (a->rta_type != NDA_DST || RTA_PAYLOAD(a) > 16) continue;
          if (found.n == 64) { more = 1; break; }
          found.ndm[found.n] = *m;
          memcpy(found.dst[found.n], RTA_DATA(a), RTA_PAYLOAD(a));
          found.len[found.n++] = RTA_PAYLOAD(a);
        }
      }
    }
    for (size_t i = 0; i < found.n; i++)
      if (neigh_del(&found.ndm[i], found.dst[i], found.len[i], err) < 0) return -1;
  }
  return 0;
}

int nl_loopback_up(struct werr *err) {
  int fd cleanup_close = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr = {0};
  if (fd < 0) return werr_set(err, "loopback", errno, "socket");
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) return werr_set(err, "loopback", errno, "get flags of 'lo'");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) return werr_set(err, "loopback", errno, "bring 'lo' up");
  return 0;
}
