#include "init.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGALRM, SIGPIPE};

void init_block_signals(sigset_t *set) {
  sigemptyset(set);
  for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaddset(set, forwarded[i]);
  sigaddset(set, SIGCHLD);
  sigprocmask(SIG_BLOCK, set, NULL);
}

static int status_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

/* Waits with the signals blocked (sigwaitinfo), so no handler runs and nothing races: a forwarded
 * signal goes to the command, SIGCHLD reaps every zombie (orphans re-parent to us, PID 1). When
 * the command itself ends, init exits with its status and the kernel kills what is left. */
void init_loop(pid_t command, const sigset_t *set) {
  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(set, &info);
    if (sig < 0) {
      if (errno == EINTR) continue;
      _exit(255);
    }
    if (sig != SIGCHLD) {
      kill(command, sig);
      continue;
    }
    for (;;) {
      int status;
      pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      if (pid == command) _exit(status_code(status));
    }
  }
}
