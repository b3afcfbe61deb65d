#include "table.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

struct sandbox *table_add(struct table *t, const char *id, pid_t pid, int sync_fd, uint64_t t0) {
  if (t->n == TABLE_MAX) return NULL;
  struct sandbox *sb = &t->items[t->n++];
  memset(sb, 0, sizeof *sb);
  strncpy(sb->id, id, sizeof sb->id - 1);
  sb->pid = pid;
  sb->sync_fd = sync_fd;
  sb->t0 = t0;
  sb->held[0] = sb->held[1] = sb->held[2] = -1;
  return sb;
}

struct sandbox *table_find_id(struct table *t, const char *id) {
  for (size_t i = 0; i < t->n; i++)
    if (strncmp(t->items[i].id, id, sizeof t->items[i].id - 1) == 0) return &t->items[i];
  return NULL;
}

struct sandbox *table_find_pid(struct table *t, pid_t pid) {
  for (size_t i = 0; i < t->n; i++)
    if (t->items[i].pid == pid && !t->items[i].exited) return &t->items[i];
  return NULL;
}

void table_remove(struct table *t, struct sandbox *sb) {
  if (sb->sync_fd >= 0) close(sb->sync_fd);
  for (int i = 1; i < 3; i++)
    if (sb->held[i] >= 0) close(sb->held[i]);
  *sb = t->items[--t->n];
}

void table_kill_all(struct table *t, int sig) {
  for (size_t i = 0; i < t->n; i++)
    if (!t->items[i].exited) kill(t->items[i].pid, sig);
}
