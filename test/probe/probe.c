/* warren's test probe: `probe <command> [args]` prints one JSON line describing what the sandbox lets
 * it see or do. See README.md for the commands and what they print. */
#define _GNU_SOURCE
#include "probe.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct command {
  const char *name;
  int nargs; /* exact number of arguments after the command name */
  const char *usage;
  int (*run)(char **args, struct perr *err);
};

static const struct command commands[] = {
    {"identity", 0, "identity", cmd_identity},
    {"syscalls", 0, "syscalls", cmd_syscalls},
    {"read", 1, "read PATH", cmd_read},
    {"write", 2, "write PATH TEXT", cmd_write},
    {"append", 2, "append PATH TEXT", cmd_append},
    {"unlink", 1, "unlink PATH", cmd_unlink},
    {"ls", 1, "ls DIR", cmd_ls},
    {"fill", 1, "fill PATH", cmd_fill},
    {"stdin", 0, "stdin", cmd_stdin},
    {"membomb", 1, "membomb MIB_STEP", cmd_membomb},
    {"forkbomb", 0, "forkbomb", cmd_forkbomb},
    {"cpuburn", 2, "cpuburn SECONDS THREADS", cmd_cpuburn},
    {"exit", 1, "exit N", cmd_exit},
    {"kill", 1, "kill SIG", cmd_kill},
    {"sleep", 1, "sleep SECONDS", cmd_sleep},
    {"signals", 0, "signals", cmd_signals},
    {"stdio", 0, "stdio", cmd_stdio},
    {"swap", 3, "swap DIR TARGET SECONDS", cmd_swap},
    {"inodes", 1, "inodes DIR", cmd_inodes},
    {"net", 0, "net", cmd_net},
    {"openw", 1, "openw PATH", cmd_openw},
    {"cgroups", 0, "cgroups", cmd_cgroups},
    {"procs", 0, "procs", cmd_procs},
    {"setcap", 1, "setcap DIR", cmd_setcap},
    {"connect", 2, "connect ADDR[%IFNAME] PORT", cmd_connect},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(void) {
  fputs("usage: probe <command> [args]\ncommands:\n", stderr);
  for (size_t i = 0; i < NCOMMANDS; i++) fprintf(stderr, "  %s\n", commands[i].usage);
}

int perr_set(struct perr *err, int errnum, const char *fmt, ...) {
  va_list ap;
  err->status = 1;
  err->errnum = errnum;
  va_start(ap, fmt);
  int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  if (errnum && n >= 0 && (size_t)n < sizeof err->msg)
    snprintf(err->msg + n, sizeof err->msg - n, ": %s", strerror(errnum));
  return -1;
}

int perr_usage(struct perr *err, const char *fmt, ...) {
  va_list ap;
  err->status = 2;
  err->errnum = EINVAL;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return -1;
}

int parse_long(const char *s, long min, long max, long *out, struct perr *err) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max)
    return perr_usage(err, "'%s' is not a number in [%ld, %ld]", s, min, max);
  *out = v;
  return 0;
}

int parse_seconds(const char *s, double *out, struct perr *err) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  /* a day bounds every test; it also keeps the nanosecond arithmetic far from overflow */
  if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 86400)
    return perr_usage(err, "'%s' is not a number of seconds in [0, 86400]", s);
  *out = v;
  return 0;
}

void cleanup_closep(int *fd) {
  if (*fd < 0) return;
  int saved = errno;
  close(*fd);
  errno = saved;
}

void cleanup_freep(void *p) { free(*(void **)p); }

void cleanup_closedirp(DIR **d) {
  if (!*d) return;
  int saved = errno;
  closedir(*d);
  errno = saved;
}

void cleanup_fclosep(FILE **f) {
  if (!*f) return;
  int saved = errno;
  fclose(*f);
  errno = saved;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage();
    return 2;
  }
  const struct command *cmd = NULL;
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(argv[1], commands[i].name) == 0) cmd = &commands[i];
  if (!cmd || argc - 2 != cmd->nargs) {
    fprintf(stderr, cmd ? "probe: usage: probe %s\n" : "probe: unknown command '%s'\n", cmd ? cmd->usage : argv[1]);
    usage();
    return 2;
  }
  struct perr err = {0};
  int status = cmd->run(argv + 2, &err);
  /* PROBE_HOLD=N keeps the sandbox alive N seconds after the report, so a test can see two
   * sandboxes at once (their uid ranges must differ while both live) */
  const char *hold = getenv("PROBE_HOLD");
  if (hold) {
    fflush(stdout);
    sleep((unsigned)atoi(hold));
  }
  if (status >= 0) return status;
  fprintf(stderr, "probe %s: %s\n", cmd->name, err.msg);
  if (err.status == 2) usage();
  return err.status;
}
