#include "trace.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

int trace_enabled;
int trace_fd = 2;

void trace_mark(const char *stage) {
  static struct timespec last;
  if (!trace_enabled) return;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  long us = last.tv_sec ? (now.tv_sec - last.tv_sec) * 1000000L + (now.tv_nsec - last.tv_nsec) / 1000 : 0;
  last = now;
  dprintf(trace_fd, "trace %d %s %ld\n", getpid(), stage, us);
}
