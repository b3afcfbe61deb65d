/* bench ask: the cold scenario's client for warren's rows, so that they are timed by a C client
 * as the baselines are (driver.c): a node client's own work, after the same idle spell, added
 * 0.8-1.0 ms to a first answer from a plain node server here (bench/asker.ts).
 *
 *   ask HOST PORT     (a TCP address)
 *   ask /SOCKET       (a unix socket)
 *
 * Each line on stdin is a path: GET it on a new connection with Connection: close, and time it
 * from the connect to the answer's last byte (answer.h; the connection's end for an answer with
 * no framing). Stdout gets, per line:
 *
 *   ok US LEN\n  then LEN bytes: the answer's head (status line and headers, CRLF between them)
 *   fail US WHY\n
 *
 * EOF on stdin ends it; so does the death of its parent. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"

/* the answer's first bytes are kept (warren's heads are well under this); the rest is read and
 * dropped until its end */
#define KEEP 65536
/* a cycle's own limit; the bench gives up on an answer after 30 s too (cold.ts) */
#define TIMEOUT_S 30

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct sockaddr_storage addr;
static socklen_t addr_len;

static int parse_target(int argc, char **argv) {
  memset(&addr, 0, sizeof addr);
  if (argc == 2 && argv[1][0] == '/') {
    struct sockaddr_un *un = (struct sockaddr_un *)&addr;
    if (strlen(argv[1]) >= sizeof un->sun_path) return -1;
    un->sun_family = AF_UNIX;
    strcpy(un->sun_path, argv[1]);
    addr_len = sizeof *un;
    return 0;
  }
  if (argc != 3) return -1;
  struct sockaddr_in *in = (struct sockaddr_in *)&addr;
  in->sin_family = AF_INET;
  in->sin_port = htons((uint16_t)atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &in->sin_addr) != 1) return -1;
  addr_len = sizeof *in;
  return 0;
}

static char buf[KEEP + 1];

/* One request; returns NULL and the head's length in *head_len, or why it failed. */
static const char *ask(const char *path, size_t *head_len) {
  char req[4096];
  int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n", path);
  if (len < 0 || (size_t)len >= sizeof req) return "path too long";
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "socket failed";
  struct timeval tv = {.tv_sec = TIMEOUT_S};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (addr.ss_family == AF_INET) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  const char *why = NULL;
  size_t got = 0;
  if (connect(fd, (struct sockaddr *)&addr, addr_len) < 0) why = "connect failed";
  else if (write(fd, req, (size_t)len) != len) why = "request not sent";
  else {
    char drop[65536];
    ssize_t n = 0;
    int whole = 0;
    while (!whole) {
      if (got < KEEP) {
        n = read(fd, buf + got, KEEP - got);
        if (n <= 0) break;
        got += (size_t)n;
        buf[got] = 0;
        whole = answer_complete(buf, got);
      } else if ((n = read(fd, drop, sizeof drop)) <= 0) break;
    }
    if (n < 0 && !whole) why = errno == EAGAIN ? "no answer in time" : "read failed";
    buf[got] = 0;
    char *end = strstr(buf, "\r\n\r\n");
    if (!why && !end) why = got ? "not an HTTP answer" : "no answer";
    if (!why) *head_len = (size_t)(end - buf);
  }
  close(fd);
  return why;
}

int main(int argc, char **argv) {
  if (parse_target(argc, argv) < 0) {
    fprintf(stderr, "usage: ask HOST PORT | ask /SOCKET\n");
    return 2;
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);
  char line[4096];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    size_t head_len = 0;
    uint64_t t0 = now_us();
    const char *why = ask(line, &head_len);
    uint64_t us = now_us() - t0;
    if (why) printf("fail %llu %s\n", (unsigned long long)us, why);
    else {
      printf("ok %llu %zu\n", (unsigned long long)us, head_len);
      fwrite(buf, 1, head_len, stdout);
    }
    fflush(stdout);
  }
  return 0;
}
