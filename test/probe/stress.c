/* Commands that push against a resource limit: membomb (memory), forkbomb (pids), cpuburn (cpu).
 * Each is meant to run inside a sandbox whose cgroup stops it; run them on a host only inside a
 * throwaway cgroup. */
#define _GNU_SOURCE
#include "probe.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MEMBOMB_REPORT_MIB 64
#define FORKBOMB_MAX 100000
#define CPUBURN_MAX_THREADS 1024

/* Every block stays reachable from here, so the compiler cannot drop the allocations as dead. */
static void *volatile membomb_head;

int cmd_membomb(char **args, struct perr *err) {
  long step;
  if (parse_long(args[0], 1, 65536, &step, err) < 0) return -1;
  size_t bytes = (size_t)step << 20;
  long long mib = 0;
  for (;;) {
    void **block = malloc(bytes);
    if (!block) {
      /* an address-space limit rather than the OOM killer: say so, the test expected a kill */
      json_begin_object(NULL);
      json_int("allocated_mib", mib);
      json_int("errno", ENOMEM);
      json_end_object();
      json_end_line();
      return 1;
    }
    /* writing every page is what makes the kernel back it with memory */
    memset(block, 0x5a, bytes);
    *block = membomb_head;
    membomb_head = block;
    long long before = mib;
    mib += step;
    if (mib / MEMBOMB_REPORT_MIB > before / MEMBOMB_REPORT_MIB) fprintf(stderr, "membomb: %lld MiB\n", mib);
  }
}

static void wait_child(pid_t pid) {
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
  }
}

/* Children block in pause() so each one holds a pid until killed. PDEATHSIG covers a probe that is
 * itself killed mid-way; the getppid check covers a parent that died before prctl ran. */
int cmd_forkbomb(char **args, struct perr *err) {
  (void)args;
  pid_t *pids cleanup_free = malloc(FORKBOMB_MAX * sizeof *pids);
  if (!pids) return perr_set(err, ENOMEM, "allocate the pid table");
  pid_t self = getpid();
  int forked = 0, errnum = 0;
  fflush(NULL);
  while (forked < FORKBOMB_MAX) {
    pid_t pid = fork();
    if (pid < 0) {
      errnum = errno;
      break;
    }
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != self) _exit(0);
      for (;;) pause();
    }
    pids[forked++] = pid;
  }
  /* reap before printing: once the line is out, the pids are free again */
  for (int i = 0; i < forked; i++) kill(pids[i], SIGKILL);
  for (int i = 0; i < forked; i++) wait_child(pids[i]);
  json_begin_object(NULL);
  json_int("forked", forked);
  json_int("errno", errnum);
  json_end_object();
  json_end_line();
  return 0;
}

static double now(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double burn_deadline;

static void *spin(void *arg) {
  (void)arg;
  volatile unsigned long work = 0;
  while (now(CLOCK_MONOTONIC) < burn_deadline)
    for (int i = 0; i < 100000; i++) work++;
  return NULL;
}

int cmd_cpuburn(char **args, struct perr *err) {
  double seconds;
  long nthreads;
  if (parse_seconds(args[0], &seconds, err) < 0) return -1;
  if (parse_long(args[1], 1, CPUBURN_MAX_THREADS, &nthreads, err) < 0) return -1;
  pthread_t threads[CPUBURN_MAX_THREADS];
  double start = now(CLOCK_MONOTONIC);
  burn_deadline = start + seconds;
  for (long i = 0; i < nthreads; i++) {
    int r = pthread_create(&threads[i], NULL, spin, NULL);
    if (r != 0) {
      /* the threads already started stop at the deadline; exiting stops them sooner */
      return perr_set(err, r, "pthread_create %ld of %ld", i + 1, nthreads);
    }
  }
  for (long i = 0; i < nthreads; i++) pthread_join(threads[i], NULL);
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) < 0) return perr_set(err, errno, "getrusage");
  double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
               (double)ru.ru_stime.tv_usec / 1e6;
  json_begin_object(NULL);
  json_double("seconds", seconds);
  json_int("threads", nthreads);
  json_double("cpu_seconds", cpu);
  json_double("wall_seconds", now(CLOCK_MONOTONIC) - start);
  json_end_object();
  json_end_line();
  return 0;
}
