/* crun's contract: fallible functions take `struct werr *err`, return negative on failure, and fill
 * err with the stage, the errno and a message that quotes the object. */
#ifndef WARREN_ERROR_H
#define WARREN_ERROR_H

#include <errno.h>

struct werr {
  const char *stage;
  int errnum;
  char msg[512];
};

/* Records the failure of `stage` with errno `errnum` and a printf-style message; returns -1. */
int werr_set(struct werr *err, const char *stage, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define cleanup_close __attribute__((cleanup(cleanup_closep)))
#define cleanup_free __attribute__((cleanup(cleanup_freep)))
void cleanup_closep(int *fd);
void cleanup_freep(void *p);

#endif
