/* Frames of the control socket (see protocol.h): parse a payload into its type and key=value
 * fields without copying, and build outgoing frames. */
#ifndef WARREN_FRAME_H
#define WARREN_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_FIELDS_MAX 8192 /* FRAME_FIELDS_MAX in sandbox/protocol.ts */

struct field {
  const char *key; /* NUL-terminated (the '=' is replaced) */
  const char *value;
};

struct msg {
  const char *type;
  size_t nfields;
  struct field fields[FRAME_FIELDS_MAX];
};

/* Parses payload (modified in place) into m; -1 on a malformed payload. */
int msg_parse(char *payload, size_t len, struct msg *m);
/* The first value of key, or NULL. */
const char *msg_get(const struct msg *m, const char *key);
/* Counts fields named key. */
size_t msg_count(const struct msg *m, const char *key);

/* An outgoing frame being built: out_begin, out_add..., out_send. */
/* len first: a small frame (most are) then touches one page of the stack, not two (each page
 * the spawner writes after a clone is a copy-on-write fault, nofork.h) */
struct out {
  size_t len;
  char buf[8192];
};
void out_begin(struct out *o, const char *type);
void out_add(struct out *o, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Writes the frame to fd in full; -1 with errno on failure. */
int out_send(struct out *o, int fd);

#endif
