#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int werr_set(struct werr *err, const char *stage, int errnum, const char *fmt, ...) {
  va_list ap;
  err->stage = stage;
  err->errnum = errnum;
  va_start(ap, fmt);
  int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  if (errnum && n >= 0 && (size_t)n < sizeof err->msg)
    snprintf(err->msg + n, sizeof err->msg - n, ": %s", strerror(errnum));
  return -1;
}

void cleanup_closep(int *fd) {
  if (*fd >= 0) close(*fd);
}

void cleanup_freep(void *p) {
  free(*(void **)p);
}
