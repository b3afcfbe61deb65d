/* tcp_metrics over generic netlink: what `ip tcp_metrics flush` does, without the `ip` process.
 *
 * The kernel keeps, per netns, what it learned about each peer a TCP connection talked to (RTT,
 * cwnd, Fast Open cookies), keyed by the peer's address and kept after the connection ends.
 * In a reused netns the next sandbox could read it (TCP_METRICS_CMD_GET needs no privilege), so
 * netpool.c flushes it between sandboxes. The flush walks the kernel's whole metrics hash (one
 * table for every netns), so its cost does not depend on how much the sandbox did.
 */
#ifndef WARREN_TCPMETRICS_H
#define WARREN_TCPMETRICS_H

#include "error.h"

/* Deletes every tcp_metrics entry of the current netns (TCP_METRICS_CMD_DEL with no address).
 * Needs CAP_NET_ADMIN over the netns. The family id is looked up once and cached: generic netlink
 * family ids are the same in every netns. */
int tcp_metrics_flush(struct werr *err);

#endif
