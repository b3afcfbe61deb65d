/* A small HTTP/1.1 load generator for bench/router/throughput.ts: CONNECTIONS keep-alive
 * connections over epoll, each sending the next GET as soon as the last answer is whole, until
 * REQUESTS answers came back. C, so the load costs the 2-core host little of the CPU the servers
 * under test need (a Node generator would take about as much as the server it measures).
 *
 *   load HOST PORT PATH CONNECTIONS REQUESTS
 *
 * Prints one line: `requests N non2xx N seconds S`. An answer is whole at Content-Length bytes of
 * body, or at the last chunk of a chunked one. Exit 1 on a connection error. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536

struct conn {
  int fd;
  size_t have;  /* bytes of the current answer in buf */
  char buf[BUF];
};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The length of a whole answer at the start of buf, 0 if not whole yet, -1 if unparseable. */
static long whole(const char *buf, size_t have) {
  const char *end = memmem(buf, have, "\r\n\r\n", 4);
  if (!end) return 0;
  size_t head = (size_t)(end - buf) + 4;
  for (const char *p = buf; p < end; p++) {
    if (*p != '\n') continue;
    if (strncasecmp(p + 1, "content-length:", 15) == 0) {
      long n = strtol(p + 16, NULL, 10);
      return have >= head + (size_t)n ? (long)(head + n) : 0;
    }
    if (strncasecmp(p + 1, "transfer-encoding:", 18) == 0) {
      const char *last = memmem(end, have - (size_t)(end - buf), "\r\n0\r\n\r\n", 7);
      return last ? (long)(last - buf) + 7 : 0;
    }
  }
  return -1;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: load HOST PORT PATH CONNECTIONS REQUESTS\n");
    return 2;
  }
  int nconn = atoi(argv[4]);
  long total = atol(argv[5]);
  char req[1024];
  int reqlen = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%s\r\n\r\n", argv[3], argv[1], argv[2]);
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
  if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
    fprintf(stderr, "load: bad address '%s'\n", argv[1]);
    return 2;
  }
  int ep = epoll_create1(0);
  struct conn *conns = calloc((size_t)nconn, sizeof *conns);
  long sent = 0, done = 0, non2xx = 0;
  double start = now();
  for (int i = 0; i < nconn && sent < total; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
      fprintf(stderr, "load: connect: %s\n", strerror(errno));
      return 1;
    }
    conns[i].fd = fd;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &conns[i] };
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    if (write(fd, req, (size_t)reqlen) != reqlen) return 1;
    sent++;
  }
  struct epoll_event evs[256];
  while (done < total) {
    int n = epoll_wait(ep, evs, 256, 10000);
    if (n <= 0) {
      fprintf(stderr, "load: no answer for 10 s (%ld of %ld done)\n", done, total);
      return 1;
    }
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      ssize_t r = read(c->fd, c->buf + c->have, BUF - c->have);
      if (r <= 0) {
        fprintf(stderr, "load: connection %s after %ld answers\n", r == 0 ? "closed" : strerror(errno), done);
        return 1;
      }
      c->have += (size_t)r;
      long len = 0;
      while (c->have > 0 && (len = whole(c->buf, c->have)) > 0) {
        if (strncmp(c->buf + 9, "2", 1) != 0) non2xx++;
        done++;
        memmove(c->buf, c->buf + len, c->have - (size_t)len);
        c->have -= (size_t)len;
        if (sent < total) {
          if (write(c->fd, req, (size_t)reqlen) != reqlen) return 1;
          sent++;
        }
      }
      if (len < 0 || c->have == BUF) {
        fprintf(stderr, "load: cannot parse an answer\n");
        return 1;
      }
    }
  }
  printf("requests %ld non2xx %ld seconds %.4f\n", done, non2xx, now() - start);
  return 0;
}
