/* Where an HTTP/1.1 answer ends, for the bench's C clients (driver.c, ask.c); bench/answer-end.ts
 * is the same for node's. */
#ifndef WARREN_BENCH_ANSWER_H
#define WARREN_BENCH_ANSWER_H
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Whether buf (len bytes, NUL-terminated) holds a whole answer by its framing: Content-Length
 * bytes after the head, or chunks up to the zero-size one and its empty line (trailers are not
 * expected from the baselines). The clocks stop at an answer's last byte, as bench/answer-end.ts
 * has warren's rows do, not at the server's close a loop turn later. */
static inline int answer_complete(const char *buf, size_t len) {
  const char *end = strstr(buf, "\r\n\r\n");
  if (!end) return 0;
  size_t head = (size_t)(end - buf), body = head + 4;
  int chunked = 0;
  long length = -1;
  for (const char *line = strstr(buf, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
    const char *name = line + 2;
    if (strncasecmp(name, "content-length:", 15) == 0) length = strtol(name + 15, NULL, 10);
    else if (strncasecmp(name, "transfer-encoding:", 18) == 0) {
      const char *eol = strstr(name, "\r\n");
      for (const char *c = name + 18; eol && c + 7 <= eol; c++)
        if (strncasecmp(c, "chunked", 7) == 0) chunked = 1;
    }
  }
  if (chunked) {
    size_t at = body;
    for (;;) {
      const char *eol = strstr(buf + at, "\r\n");
      if (!eol) return 0;
      char *stop;
      unsigned long size = strtoul(buf + at, &stop, 16);
      if (stop == buf + at) return 0;
      if (size == 0) return strncmp(eol + 2, "\r\n", 2) == 0;
      at = (size_t)(eol - buf) + 2 + size + 2;
      if (at > len) return 0;
    }
  }
  return length >= 0 && len - body >= (size_t)length;
}

#endif
