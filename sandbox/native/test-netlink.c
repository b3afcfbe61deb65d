/* Test driver for netlink.c. Needs root; makes only links named wrntest* and one child netns, and
 * removes them on every path (cleanup() runs at exit, also after a failed check).
 *
 *   cc -O2 -Wall -Wextra -D_GNU_SOURCE -o /tmp/test-netlink test-netlink.c netlink.c error.c
 *   sudo /tmp/test-netlink [N]      # N veths for the timing loop, default 100
 *
 *   parent (host netns)                         child (fork, unshare(CLONE_NEWNET))
 *     bridge wrntest-br0, up                      "N" -> parent: my netns exists
 *     veth wrntest-h0 / eth0 into child's netns
 *     attach isolated, up; check sysfs
 *     "G" -> child ------------------------------>  addr, up, default route; check getifaddrs
 *                                                   and /proc/net/route
 *     <------------------------------------------  "O" or "F<message>"
 *     error cases; timing loop; delete all; no wrntest* left in `ip -o link`
 */
#include <fcntl.h>
#include <ifaddrs.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netlink.h"

#define BRIDGE "wrntest-br0"
#define HOST_IF "wrntest-h0"
#define ADDR "10.213.0.5"
#define PREFIX "/16"
#define GATEWAY "10.213.0.1"

static pid_t child = -1;
static int to_child = -1, from_child = -1;
static int bench_n;
static int failures;

static void check(int ok, const char *what) {
  printf("%s - %s\n", ok ? "ok" : "not ok", what);
  if (!ok) failures++;
}

static void die_err(const char *what, const struct werr *err) {
  printf("not ok - %s: [%s] errno %d: %s\n", what, err->stage, err->errnum, err->msg);
  exit(1); /* cleanup() runs */
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void kill_child(void) {
  if (child <= 0) return;
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  child = -1;
}

static void on_signal(int sig) {
  exit(128 + sig); /* runs cleanup(); a test driver may take the liberty */
}

static int wrntest_links(char *first, size_t size) {
  FILE *p = popen("ip -o link show 2>/dev/null", "r");
  char line[1024];
  int n = 0;
  if (!p) return -1;
  while (fgets(line, sizeof line, p))
    if (strstr(line, "wrntest")) {
      if (!n && first) snprintf(first, size, "%.200s", line);
      n++;
    }
  pclose(p);
  return n;
}

/* Everything this driver may have made; errors ignored: most of it is already gone. */
static void cleanup(void) {
  struct werr e;
  char name[32];
  if (to_child >= 0) close(to_child);
  kill_child(); /* its netns goes, and with it every veth whose peer lived there */
  nl_link_del(HOST_IF, &e);
  for (int i = 0; i < bench_n; i++) {
    snprintf(name, sizeof name, "wrntest-b%d", i);
    nl_link_del(name, &e);
  }
  nl_link_del(BRIDGE, &e);
}

static int read_sys(const char *ifname, const char *file, char *out, size_t size) {
  char path[256];
  snprintf(path, sizeof path, "/sys/class/net/%s/%s", ifname, file);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, out, size - 1);
  close(fd);
  if (n < 0) return -1;
  out[n] = '\0';
  out[strcspn(out, "\n")] = '\0';
  return 0;
}

/* In the child: configure eth0 and look at the result the way a program inside would. */
static const char *child_configure(char *msg, size_t size) {
  struct werr err = {0};
  if (nl_addr_add("eth0", ADDR PREFIX, &err) < 0 || nl_link_up("eth0", &err) < 0 ||
      nl_route_default(GATEWAY, "eth0", &err) < 0) {
    snprintf(msg, size, "[%s] %s", err.stage, err.msg);
    return msg;
  }
  struct ifaddrs *ifs, *i;
  int found = 0;
  if (getifaddrs(&ifs) < 0) return "getifaddrs failed";
  for (i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || strcmp(i->ifa_name, "eth0")) continue;
    char a[INET_ADDRSTRLEN], m[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, a, sizeof a);
    inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_netmask)->sin_addr, m, sizeof m);
    found = !strcmp(a, ADDR) && !strcmp(m, "255.255.0.0") && (i->ifa_flags & IFF_UP);
  }
  freeifaddrs(ifs);
  if (!found) return "eth0 has no " ADDR PREFIX " or is not up";
  /* /proc/net/route: Iface Destination Gateway ..., little-endian hex: 10.213.0.1 = 0100D50A */
  FILE *f = fopen("/proc/net/route", "r");
  char line[256];
  found = 0;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "eth0\t00000000\t0100D50A\t", 23)) found = 1;
  if (f) fclose(f);
  return found ? NULL : "no default route via " GATEWAY " dev eth0 in /proc/net/route";
}

static void child_main(int in, int out) {
  char c = 'N', msg[600];
  if (unshare(CLONE_NEWNET) < 0) c = 'X';
  if (write(out, &c, 1) != 1 || c == 'X') _exit(1);
  if (read(in, &c, 1) != 1 || c != 'G') _exit(0);
  const char *fail = child_configure(msg, sizeof msg);
  int n = snprintf(msg, sizeof msg, "%c%s", fail ? 'F' : 'O', fail ? fail : "");
  if (write(out, msg, (size_t)n) != n) _exit(1);
  while (read(in, &c, 1) > 0) {} /* hold the netns until the parent is done */
  _exit(0);
}

static void start_child(void) {
  int down[2], up[2];
  if (pipe2(down, O_CLOEXEC) < 0 || pipe2(up, O_CLOEXEC) < 0) exit(1);
  child = fork();
  if (child < 0) exit(1);
  if (child == 0) {
    close(down[1]);
    close(up[0]);
    child_main(down[0], up[1]);
  }
  close(down[0]);
  close(up[1]);
  to_child = down[1];
  from_child = up[0];
  char c;
  if (read(from_child, &c, 1) != 1 || c != 'N') {
    printf("not ok - child could not unshare its netns\n");
    exit(1);
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void report(const char *what, double *ms, int n) {
  qsort(ms, (size_t)n, sizeof *ms, cmp_double);
  printf("# %-34s n=%d median %.3f ms  p90 %.3f ms  max %.3f ms\n", what, n, ms[n / 2], ms[n * 9 / 10], ms[n - 1]);
}

static void test_errors(void) {
  struct werr err = {0};
  int r = nl_veth_create(HOST_IF, "eth1", child, -1, &err);
  check(r < 0 && err.errnum == EEXIST && strstr(err.msg, "'" HOST_IF "'"), "creating an existing veth fails with EEXIST naming it");
  printf("#   %s\n", err.msg);
  r = nl_link_set_master_up(HOST_IF, "wrntest-nobr", 1, &err);
  check(r < 0 && err.errnum == ENODEV && strstr(err.msg, "'wrntest-nobr'"), "attaching to a missing bridge fails naming it");
  r = nl_link_del("wrntest-none", &err);
  check(r < 0 && err.errnum == ENODEV && strstr(err.msg, "'wrntest-none'"), "deleting a missing link fails with ENODEV");
  printf("#   %s\n", err.msg);
  r = nl_addr_add(HOST_IF, "10.213.0.5", &err);
  check(r < 0 && err.errnum == EINVAL, "an address without prefix is refused");
  r = nl_veth_create("wrntest-name-too-long", "eth0", child, -1, &err);
  check(r < 0 && err.errnum == EINVAL, "a name over 15 bytes is refused");
}

/* create (+ attach isolated + up) N veths into the child's netns, then delete them one by one;
 * then N more through a netns fd, which go away with the child's netns. */
static void bench(void) {
  struct werr err = {0};
  char host[32], peer[32]; /* bench_n <= 1000 keeps names within 15 bytes */
  double *create = calloc((size_t)bench_n, sizeof(double)), *full = calloc((size_t)bench_n, sizeof(double));
  double *del = calloc((size_t)bench_n, sizeof(double));
  if (!create || !full || !del) exit(1);
  for (int i = 0; i < bench_n; i++) {
    snprintf(host, sizeof host, "wrntest-b%d", i);
    snprintf(peer, sizeof peer, "b%d", i);
    double t0 = now_ms();
    if (nl_veth_create(host, peer, child, -1, &err) < 0) die_err("bench create", &err);
    double t1 = now_ms();
    if (nl_link_set_master_up(host, BRIDGE, 1, &err) < 0) die_err("bench attach", &err);
    double t2 = now_ms();
    create[i] = t1 - t0;
    full[i] = t2 - t0;
  }
  for (int i = 0; i < bench_n; i++) {
    snprintf(host, sizeof host, "wrntest-b%d", i);
    double t0 = now_ms();
    if (nl_link_del(host, &err) < 0) die_err("bench delete", &err);
    del[i] = now_ms() - t0;
  }
  report("veth create (pid)", create, bench_n);
  report("veth create+attach isolated+up", full, bench_n);
  report("veth delete (explicit)", del, bench_n);
  free(create);
  free(full);
  free(del);
}

static void bench_netns_death(void) {
  struct werr err = {0};
  char host[32], peer[32], path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/net", child);
  int nsfd = open(path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) exit(1);
  double t0 = now_ms();
  for (int i = 0; i < bench_n; i++) {
    snprintf(host, sizeof host, "wrntest-b%d", i);
    snprintf(peer, sizeof peer, "b%d", i);
    if (nl_veth_create(host, peer, -1, nsfd, &err) < 0) die_err("create through a netns fd", &err);
  }
  printf("# %d veths created through a netns fd in %.1f ms\n", bench_n, now_ms() - t0);
  close(nsfd); /* else the fd keeps the netns alive after the child */
  close(to_child);
  to_child = -1;
  t0 = now_ms();
  kill_child();
  double killed = now_ms();
  int left = -1;
  while (now_ms() - t0 < 10000 && (left = wrntest_links(NULL, 0)) > 1) usleep(2000); /* the bridge stays */
  printf("# child killed in %.1f ms; its %d veths gone %.1f ms after (netns cleanup is async, batched)\n",
         killed - t0, bench_n, now_ms() - killed);
  check(left == 1, "veths whose peer was in the netns go away with it");
}

int main(int argc, char **argv) {
  struct werr err = {0};
  char buf[256];
  if (geteuid() != 0) {
    printf("1..0 # SKIP needs root\n");
    return 0;
  }
  bench_n = argc > 1 ? atoi(argv[1]) : 100;
  if (bench_n < 1 || bench_n > 1000) bench_n = 100;
  setvbuf(stdout, NULL, _IOLBF, 0);
  atexit(cleanup);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  if (wrntest_links(buf, sizeof buf) > 0) {
    printf("not ok - a wrntest link exists before the test: %s", buf);
    return 1;
  }
  if (nl_bridge_create(BRIDGE, &err) < 0 || nl_link_up(BRIDGE, &err) < 0) die_err("create bridge", &err);
  start_child();

  unsigned host_eth0 = if_nametoindex("eth0");
  double t0 = now_ms();
  if (nl_veth_create(HOST_IF, "eth0", child, -1, &err) < 0) die_err("create veth", &err);
  if (nl_link_set_master_up(HOST_IF, BRIDGE, 1, &err) < 0) die_err("attach veth", &err);
  printf("# first veth create+attach+up: %.3f ms\n", now_ms() - t0);
  check(read_sys(HOST_IF, "brport/isolated", buf, sizeof buf) == 0 && !strcmp(buf, "1"), HOST_IF " is an isolated port");
  check(readlink("/sys/class/net/" HOST_IF "/master", buf, sizeof buf) > 0 && strstr(buf, BRIDGE), HOST_IF " has master " BRIDGE);
  check(read_sys(HOST_IF, "flags", buf, sizeof buf) == 0 && (strtoul(buf, NULL, 16) & IFF_UP), HOST_IF " is up");
  check(if_nametoindex("eth0") == host_eth0, "the peer eth0 was not created in the host netns");

  char c = 'G', msg[600] = {0};
  if (write(to_child, &c, 1) != 1) exit(1);
  ssize_t n = read(from_child, msg, sizeof msg - 1);
  check(n > 0 && msg[0] == 'O', "child: eth0 has " ADDR PREFIX ", is up, default route via " GATEWAY);
  if (n > 0 && msg[0] == 'F') printf("#   child: %s\n", msg + 1);

  test_errors();
  bench();
  if (nl_link_del(HOST_IF, &err) < 0) die_err("delete " HOST_IF, &err);
  check(if_nametoindex(HOST_IF) == 0, HOST_IF " is gone after nl_link_del");
  bench_netns_death();

  if (nl_link_del(BRIDGE, &err) < 0) die_err("delete " BRIDGE, &err);
  int left = wrntest_links(buf, sizeof buf);
  check(left == 0, "no wrntest* link left");
  if (left > 0) printf("#   left: %s", buf);
  printf("# %s\n", failures ? "FAILED" : "all passed");
  return failures ? 1 : 0;
}
