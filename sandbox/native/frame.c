#include "frame.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int msg_parse(char *payload, size_t len, struct msg *m) {
  m->type = NULL;
  m->nfields = 0;
  if (len == 0 || payload[len - 1] != '\0') return -1;
  m->type = payload;
  char *p = payload + strlen(payload) + 1;
  char *end = payload + len;
  while (p < end) {
    char *eq = strchr(p, '=');
    if (eq == NULL || m->nfields == FRAME_FIELDS_MAX) return -1;
    *eq = '\0';
    m->fields[m->nfields].key = p;
    m->fields[m->nfields].value = eq + 1;
    m->nfields++;
    p = eq + 1 + strlen(eq + 1) + 1;
  }
  return 0;
}

const char *msg_get(const struct msg *m, const char *key) {
  for (size_t i = 0; i < m->nfields; i++)
    if (strcmp(m->fields[i].key, key) == 0) return m->fields[i].value;
  return NULL;
}

size_t msg_count(const struct msg *m, const char *key) {
  size_t n = 0;
  for (size_t i = 0; i < m->nfields; i++)
    if (strcmp(m->fields[i].key, key) == 0) n++;
  return n;
}

void out_begin(struct out *o, const char *type) {
  o->len = 4;
  size_t n = strlen(type) + 1;
  memcpy(o->buf + o->len, type, n);
  o->len += n;
}

void out_add(struct out *o, const char *key, const char *fmt, ...) {
  size_t room = sizeof o->buf - o->len;
  int k = snprintf(o->buf + o->len, room, "%s=", key);
  if (k < 0 || (size_t)k >= room) return;
  va_list ap;
  va_start(ap, fmt);
  int v = vsnprintf(o->buf + o->len + k, room - k, fmt, ap);
  va_end(ap);
  if (v < 0 || (size_t)(k + v) >= room) return; /* dropped: never a truncated field */
  o->len += k + v + 1;
}

int out_send(struct out *o, int fd) {
  uint32_t n = (uint32_t)(o->len - 4);
  memcpy(o->buf, &n, 4); /* x86_64 and aarch64 are little-endian, as the protocol says */
  size_t off = 0;
  while (off < o->len) {
    ssize_t w = write(fd, o->buf + off, o->len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    off += (size_t)w;
  }
  return 0;
}
