/* net: what a sandbox can learn about the traffic of its network namespace. Everything here is
 * per netns and readable without privilege, which is why a reused netns must not carry it over:
 * the tcp_metrics entries (peers TCP talked to, over generic netlink as `ip tcp_metrics` reads them),
 * the interface counters (/proc/net/dev) and the TCP SNMP counters (/proc/net/snmp). The generic
 * netlink code repeats sandbox/native/tcpmetrics.c's on purpose: the probe checks that code, so it
 * must not share it (nor its bugs), and it links with nothing of warren. */
#define _GNU_SOURCE
#include "probe.h"

#include <arpa/inet.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/tcp_metrics.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct genreq {
  struct nlmsghdr hdr;
  struct genlmsghdr genl;
  char attrs[64];
};

typedef void (*attr_fn)(const struct nlattr *a, void *arg);

/* Sends r on a fresh generic netlink socket; passes the attributes of every reply of `type` to fn;
 * returns 0 when done, or the errno. */
static int genl_talk(struct genreq *r, uint16_t type, attr_fn fn, void *arg) {
  int fd cleanup_close = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
  if (fd < 0) return errno;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  r->hdr.nlmsg_seq = 1;
  if (sendto(fd, r, r->hdr.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return errno;
  char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : ECONNRESET;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE) return 0;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = NLMSG_DATA(h);
        return -e->error;
      }
      if (h->nlmsg_type != type) continue;
      int len = (int)(h->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN));
      for (const struct nlattr *a = (const struct nlattr *)((const char *)NLMSG_DATA(h) + GENL_HDRLEN);
           len >= (int)sizeof *a && a->nla_len >= sizeof *a && a->nla_len <= len;
           len -= NLA_ALIGN(a->nla_len), a = (const struct nlattr *)((const char *)a + NLA_ALIGN(a->nla_len)))
        fn(a, arg);
    }
  }
}

static void genreq_init(struct genreq *r, uint16_t type, uint16_t flags, uint8_t cmd, uint8_t version) {
  memset(r, 0, sizeof *r);
  r->hdr.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
  r->hdr.nlmsg_type = type;
  r->hdr.nlmsg_flags = NLM_F_REQUEST | flags;
  r->genl.cmd = cmd;
  r->genl.version = version;
}

static void family_id(const struct nlattr *a, void *arg) {
  if ((a->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID) memcpy(arg, (const char *)a + NLA_HDRLEN, sizeof(uint16_t));
}

static void print_addr(const struct nlattr *a, void *arg) {
  (void)arg;
  char text[INET6_ADDRSTRLEN];
  int type = a->nla_type & NLA_TYPE_MASK;
  const void *data = (const char *)a + NLA_HDRLEN;
  if (type == TCP_METRICS_ATTR_ADDR_IPV4 && inet_ntop(AF_INET, data, text, sizeof text)) json_string(NULL, text);
  if (type == TCP_METRICS_ATTR_ADDR_IPV6 && inet_ntop(AF_INET6, data, text, sizeof text)) json_string(NULL, text);
}

/* "tcp_metrics": [peer addresses] and "tcp_metrics_errno" (0 when the dump worked). */
static void tcp_metrics(void) {
  struct genreq r;
  genreq_init(&r, GENL_ID_CTRL, NLM_F_ACK, CTRL_CMD_GETFAMILY, 1);
  struct nlattr *a = (struct nlattr *)r.attrs;
  a->nla_type = CTRL_ATTR_FAMILY_NAME;
  a->nla_len = NLA_HDRLEN + sizeof TCP_METRICS_GENL_NAME;
  memcpy((char *)a + NLA_HDRLEN, TCP_METRICS_GENL_NAME, sizeof TCP_METRICS_GENL_NAME);
  r.hdr.nlmsg_len += NLA_ALIGN(a->nla_len);
  uint16_t family = 0;
  int e = genl_talk(&r, GENL_ID_CTRL, family_id, &family);
  json_begin_array("tcp_metrics");
  if (!e && family) {
    genreq_init(&r, family, NLM_F_DUMP, TCP_METRICS_CMD_GET, TCP_METRICS_GENL_VERSION);
    e = genl_talk(&r, family, print_addr, NULL);
  } else if (!e) {
    e = ENOENT;
  }
  json_end_array();
  json_int("tcp_metrics_errno", e);
}

/* "dev": {ifname: {rx_bytes, rx_packets, tx_bytes, tx_packets}} from /proc/net/dev. */
static void dev_counters(void) {
  char *text cleanup_free = NULL;
  size_t len;
  struct perr ignored;
  if (read_all("/proc/net/dev", &text, &len, &ignored) < 0) return json_null("dev");
  json_begin_object("dev");
  char *save, *line = strtok_r(text, "\n", &save);
  for (int i = 0; line; line = strtok_r(NULL, "\n", &save), i++) {
    char *colon = strchr(line, ':');
    if (i < 2 || !colon) continue; /* two header lines */
    *colon = '\0';
    while (*line == ' ') line++;
    unsigned long long v[16] = {0};
    sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    json_begin_object(line);
    json_int("rx_bytes", (long long)v[0]);
    json_int("rx_packets", (long long)v[1]);
    json_int("tx_bytes", (long long)v[8]);
    json_int("tx_packets", (long long)v[9]);
    json_end_object();
  }
  json_end_object();
}

/* "tcp": {ActiveOpens, PassiveOpens, InSegs, OutSegs} from the Tcp: lines of /proc/net/snmp. */
static void snmp_tcp(void) {
  char *text cleanup_free = NULL;
  size_t len;
  struct perr ignored;
  if (read_all("/proc/net/snmp", &text, &len, &ignored) < 0) return json_null("tcp");
  char *names = strstr(text, "\nTcp: ");
  char *values = names ? strstr(names + 1, "\nTcp: ") : NULL;
  if (!values) return json_null("tcp");
  names += 6, values += 6;
  char *nend = strchr(names, '\n'), *vend = strchr(values, '\n');
  if (nend) *nend = '\0';
  if (vend) *vend = '\0';
  json_begin_object("tcp");
  char *ns, *vs;
  char *name = strtok_r(names, " ", &ns), *value = strtok_r(values, " ", &vs);
  for (; name && value; name = strtok_r(NULL, " ", &ns), value = strtok_r(NULL, " ", &vs))
    if (!strcmp(name, "ActiveOpens") || !strcmp(name, "PassiveOpens") || !strcmp(name, "InSegs") || !strcmp(name, "OutSegs"))
      json_int(name, strtoll(value, NULL, 10));
  json_end_object();
}

int cmd_net(char **args, struct perr *err) {
  (void)args, (void)err;
  char ns[64] = "";
  ssize_t n = readlink("/proc/self/ns/net", ns, sizeof ns - 1);
  json_begin_object(NULL);
  if (n > 0) ns[n] = '\0';
  json_string("netns", n > 0 ? ns : NULL);
  tcp_metrics();
  dev_counters();
  snmp_tcp();
  json_end_object();
  json_end_line();
  return 0;
}
