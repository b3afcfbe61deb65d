/* tcpmetrics.h says what and why. One socket per call, as in netlink.c: it is bound to the netns
 * it was made in, and the caller is inside the netns to flush. */
#include "tcpmetrics.h"

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/tcp_metrics.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct genreq {
  struct nlmsghdr hdr;
  struct genlmsghdr genl;
  char attrs[64];
};

/* Sends `r` and reads until its ACK (or error); a reply of type `want_type`, if asked for, has
 * its attributes passed to `on_attr`. */
static int genl_run(struct genreq *r, uint16_t want_type, void (*on_attr)(const struct nlattr *a, void *arg), void *arg,
                    const char *what, struct werr *err) {
  int fd cleanup_close = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
  if (fd < 0) return werr_set(err, "netns", errno, "%s: generic netlink socket", what);
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  r->hdr.nlmsg_seq = 1;
  if (sendto(fd, r, r->hdr.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
    return werr_set(err, "netns", errno, "%s: send", what);
  char buf[4096] __attribute__((aligned(NLMSG_ALIGNTO)));
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return werr_set(err, "netns", n < 0 ? errno : ECONNRESET, "%s: receive the reply", what);
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != 1) continue;
      if (h->nlmsg_type == NLMSG_ERROR) {
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
          return werr_set(err, "netns", EBADMSG, "%s: short netlink error message", what);
        const struct nlmsgerr *e = NLMSG_DATA(h);
        return e->error ? werr_set(err, "netns", -e->error, "%s", what) : 0;
      }
      if (h->nlmsg_type != want_type || !on_attr) continue;
      int len = (int)(h->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN));
      for (const struct nlattr *a = (const struct nlattr *)((const char *)NLMSG_DATA(h) + GENL_HDRLEN);
           len >= (int)sizeof *a && a->nla_len >= sizeof *a && a->nla_len <= len;
           len -= NLA_ALIGN(a->nla_len), a = (const struct nlattr *)((const char *)a + NLA_ALIGN(a->nla_len)))
        on_attr(a, arg);
    }
  }
}

static void genreq_init(struct genreq *r, uint16_t family, uint8_t cmd, uint8_t version) {
  memset(r, 0, sizeof *r);
  r->hdr.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
  r->hdr.nlmsg_type = family;
  r->hdr.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  r->genl.cmd = cmd;
  r->genl.version = version;
}

static void family_id_of(const struct nlattr *a, void *arg) {
  if ((a->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID && a->nla_len >= NLA_HDRLEN + sizeof(uint16_t))
    memcpy(arg, (const char *)a + NLA_HDRLEN, sizeof(uint16_t));
}

static int family_id(struct werr *err) {
  static uint16_t id;
  if (id) return id;
  struct genreq r;
  genreq_init(&r, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
  struct nlattr *a = (struct nlattr *)r.attrs;
  a->nla_type = CTRL_ATTR_FAMILY_NAME;
  a->nla_len = NLA_HDRLEN + sizeof TCP_METRICS_GENL_NAME;
  memcpy((char *)a + NLA_HDRLEN, TCP_METRICS_GENL_NAME, sizeof TCP_METRICS_GENL_NAME);
  r.hdr.nlmsg_len += NLA_ALIGN(a->nla_len);
  uint16_t found = 0;
  if (genl_run(&r, GENL_ID_CTRL, family_id_of, &found, "find the generic netlink family '" TCP_METRICS_GENL_NAME "'", err) < 0)
    return -1;
  if (!found) return werr_set(err, "netns", ENOENT, "find the generic netlink family '" TCP_METRICS_GENL_NAME "': no id in the reply");
  return id = found;
}

int tcp_metrics_flush(struct werr *err) {
  int family = family_id(err);
  if (family < 0) return -1;
  struct genreq r;
  /* no address attribute: the kernel flushes every entry of the socket's netns */
  genreq_init(&r, (uint16_t)family, TCP_METRICS_CMD_DEL, TCP_METRICS_GENL_VERSION);
  return genl_run(&r, 0, NULL, NULL, "flush tcp_metrics", err);
}
