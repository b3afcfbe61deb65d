/* Commands about how the probe ends: exit, kill, sleep, signals. */
#define _GNU_SOURCE
#include "probe.h"

#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define SIGNALS_WAIT_SECONDS 30

int cmd_exit(char **args, struct perr *err) {
  long status;
  if (parse_long(args[0], 0, 255, &status, err) < 0) return -1;
  fflush(NULL);
  _exit((int)status);
}

/* A signal by number ("15") or by name with or without the prefix ("TERM", "SIGTERM"). */
static int parse_signal(const char *s, int *out, struct perr *err) {
  const char *name = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
  for (int sig = 1; sig < NSIG; sig++) {
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev && strcasecmp(abbrev, name) == 0) {
      *out = sig;
      return 0;
    }
  }
  long sig;
  if (parse_long(s, 1, NSIG - 1, &sig, err) < 0) return perr_usage(err, "'%s' is not a signal", s);
  *out = (int)sig;
  return 0;
}

/* Dies by the signal's default action. The disposition is reset and the signal unblocked first in case
 * the sandbox handed them down changed. A signal whose default is to ignore, or pid 1 of a pid namespace
 * (the kernel drops its own signals to an init without a handler), leaves the probe alive: say so. */
int cmd_kill(char **args, struct perr *err) {
  int sig = 0;
  if (parse_signal(args[0], &sig, err) < 0) return -1;
  fflush(NULL);
  signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  raise(sig);
  json_begin_object(NULL);
  json_int("raised", sig);
  json_bool("alive", true);
  json_end_object();
  json_end_line();
  return 1;
}

int cmd_sleep(char **args, struct perr *err) {
  double seconds;
  if (parse_seconds(args[0], &seconds, err) < 0) return -1;
  struct timespec left = {.tv_sec = (time_t)seconds, .tv_nsec = (long)((seconds - floor(seconds)) * 1e9)};
  while (nanosleep(&left, &left) < 0) {
    if (errno != EINTR) return perr_set(err, errno, "nanosleep");
  }
  json_begin_object(NULL);
  json_double("slept", seconds);
  json_end_object();
  json_end_line();
  return 0;
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig) { got_signal = sig; }

/* The signals stay blocked except inside ppoll, which unblocks them atomically: a signal sent right
 * after "ready" is never lost between the check and the wait. */
int cmd_signals(char **args, struct perr *err) {
  (void)args;
  static const int watched[] = {SIGTERM, SIGINT, SIGHUP};
  sigset_t block, waitmask;
  sigemptyset(&block);
  for (size_t i = 0; i < 3; i++) sigaddset(&block, watched[i]);
  if (sigprocmask(SIG_BLOCK, &block, &waitmask) < 0) return perr_set(err, errno, "sigprocmask");
  for (size_t i = 0; i < 3; i++) sigdelset(&waitmask, watched[i]);
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < 3; i++)
    if (sigaction(watched[i], &sa, NULL) < 0) return perr_set(err, errno, "sigaction %s", sigabbrev_np(watched[i]));
  json_begin_object(NULL);
  json_bool("ready", true);
  json_end_object();
  json_end_line();
  struct timespec deadline, now;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += SIGNALS_WAIT_SECONDS;
  while (!got_signal) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct timespec left = {.tv_sec = deadline.tv_sec - now.tv_sec, .tv_nsec = deadline.tv_nsec - now.tv_nsec};
    if (left.tv_nsec < 0) left.tv_sec--, left.tv_nsec += 1000000000L;
    if (left.tv_sec < 0) break;
    if (ppoll(NULL, 0, &left, &waitmask) < 0 && errno != EINTR) return perr_set(err, errno, "ppoll");
  }
  json_begin_object(NULL);
  if (got_signal) {
    char name[32];
    snprintf(name, sizeof name, "SIG%s", sigabbrev_np(got_signal));
    json_string("got", name);
  } else {
    json_null("got");
  }
  json_end_object();
  json_end_line();
  return got_signal ? 0 : 1;
}
