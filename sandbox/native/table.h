/* The spawner's sandboxes: an unordered array (removal swaps the last in). */
#ifndef WARREN_TABLE_H
#define WARREN_TABLE_H

#include <stdint.h>
#include <sys/types.h>

#define TABLE_MAX 8192

struct sandbox {
  char id[64];
  pid_t pid;
  int sync_fd;   /* open until the child reports READY or ERROR */
  int reported;  /* an error was already sent for it */
  uint64_t t0;   /* when the spawn request arrived, microseconds */
  char netns[32]; /* the pooled netns it joined, cleaned for reuse when it ends */
  int parked;    /* made by prep: cloned and in its cgroups, waiting for its spawn request */
  int held[3];   /* live restore: the runner's read ends of its stdout, stderr ([1], [2]; -1 none) */
  int exited;    /* reaped while no runner was attached: its exit is said at the next attach */
  int status;    /* waitpid's, when exited */
  int verdict;   /* its pooled netns when exited: 0 none, 1 reused, 2 discarded */
};

struct table {
  struct sandbox items[TABLE_MAX];
  size_t n;
};

/* NULL when full. */
struct sandbox *table_add(struct table *t, const char *id, pid_t pid, int sync_fd, uint64_t t0);
struct sandbox *table_find_id(struct table *t, const char *id);
/* A live one only: an exited one's pid may be another process's by now. */
struct sandbox *table_find_pid(struct table *t, pid_t pid);
void table_remove(struct table *t, struct sandbox *sb);
/* Every live one (not those exited). */
void table_kill_all(struct table *t, int sig);

#endif
