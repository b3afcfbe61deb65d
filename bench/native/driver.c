/* bench driver: runs a baseline's create-and-destroy cycles from a small C process, so that the
 * baselines pay for their own start and not for a fork of Node (6-9 ms per spawn; DESIGN.md). Node
 * starts one driver per batch, outside the measured time.
 *
 *   driver COUNT CONCURRENCY TIMEOUT_MS -- COMMAND [ARGS...]
 *
 * A cycle: fork + exec COMMAND with stdin and stdout on pipes; the first byte on its stdout means
 * "command running" (bench/native/pause.c writes it); then close its stdin, which ends pause, and
 * reap it. In ARGS, "{slot}" becomes the slot (0..CONCURRENCY-1) and "{n}" the cycle number, so
 * concurrent cycles can use their own bundle or name. Stdout gets one line per cycle, in the order
 * they end, then the batch's wall time:
 *
 *   ok READY_US CYCLE_US
 *   fail CYCLE_US WHY
 *   done WALL_US
 *
 * SIGTERM (or the death of the parent) starts nothing more and ends the running cycles; a cycle
 * longer than TIMEOUT_MS has its process group killed. SIGINT is ignored: the parent decides. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SLOTS 256
#define STOP_GRACE_US 5000000u

struct slot {
  pid_t pid; /* 0: free */
  int in_w, out_r;
  uint64_t t0, ready_us;
  int ready, killed;
};

static struct slot slots[MAX_SLOTS];
static char **cmd;
static int ncmd;

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* "{slot}" and "{n}" replaced; returns a malloc'd string (the child execs or exits, so no free) */
static char *expand(const char *arg, int slot, long n) {
  char out[4096];
  size_t o = 0;
  for (const char *p = arg; *p && o < sizeof out - 24;) {
    if (strncmp(p, "{slot}", 6) == 0) {
      o += (size_t)snprintf(out + o, sizeof out - o, "%d", slot);
      p += 6;
    } else if (strncmp(p, "{n}", 3) == 0) {
      o += (size_t)snprintf(out + o, sizeof out - o, "%ld", n);
      p += 3;
    } else {
      out[o++] = *p++;
    }
  }
  out[o] = 0;
  return strdup(out);
}

static int start(int i, long n) {
  struct slot *s = &slots[i];
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) < 0) return -1;
  if (pipe2(out, O_CLOEXEC) < 0) {
    close(in[0]);
    close(in[1]);
    return -1;
  }
  s->t0 = now_us();
  pid_t pid = fork();
  if (pid < 0) {
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    return -1;
  }
  if (pid == 0) {
    /* own process group: a Ctrl-C on the terminal is the parent's to handle, and a timeout kills
     * the whole group; signals as a fresh process has them */
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    char **argv = calloc((size_t)ncmd + 1, sizeof *argv);
    for (int k = 0; k < ncmd; k++) argv[k] = expand(cmd[k], i, n);
    execvp(argv[0], argv);
    dprintf(STDERR_FILENO, "driver: exec '%s': %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  setpgid(pid, pid); /* also here: kill(-pid) must work before the child got to run */
  close(in[0]);
  close(out[1]);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  *s = (struct slot){.pid = pid, .in_w = in[1], .out_r = out[0], .t0 = s->t0};
  return 0;
}

static void read_ready(struct slot *s) {
  char buf[64];
  ssize_t n = read(s->out_r, buf, sizeof buf);
  if (n > 0 && !s->ready) {
    s->ready = 1;
    s->ready_us = now_us() - s->t0;
    close_fd(&s->in_w); /* ready: end it at once */
  } else if (n == 0) {
    close_fd(&s->out_r);
  }
}

static void finish(struct slot *s, int status) {
  if (s->out_r >= 0 && !s->ready) read_ready(s); /* a byte written just before it ended */
  close_fd(&s->out_r);
  close_fd(&s->in_w);
  uint64_t cycle = now_us() - s->t0;
  if (s->killed)
    printf("fail %llu timed out\n", (unsigned long long)cycle);
  else if (WIFSIGNALED(status))
    printf("fail %llu killed by signal %d %s ready\n", (unsigned long long)cycle, WTERMSIG(status), s->ready ? "after" : "before");
  else if (WEXITSTATUS(status) != 0 || !s->ready)
    printf("fail %llu exit %d %s ready\n", (unsigned long long)cycle, WEXITSTATUS(status), s->ready ? "after" : "before");
  else
    printf("ok %llu %llu\n", (unsigned long long)s->ready_us, (unsigned long long)cycle);
  s->pid = 0;
}

static int usage(void) {
  fprintf(stderr, "usage: driver COUNT CONCURRENCY TIMEOUT_MS -- COMMAND [ARGS...]\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 6 || strcmp(argv[4], "--") != 0) return usage();
  long count = atol(argv[1]);
  int conc = atoi(argv[2]);
  uint64_t timeout_us = (uint64_t)atol(argv[3]) * 1000u;
  if (count < 0 || conc < 1 || conc > MAX_SLOTS || timeout_us == 0) return usage();
  cmd = argv + 5;
  ncmd = argc - 5;
  setvbuf(stdout, NULL, _IOLBF, 0);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  signal(SIGINT, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) return perror("driver: signalfd"), 1;
  if (getppid() == 1) return 0; /* the parent died before PDEATHSIG was set */

  for (int i = 0; i < MAX_SLOTS; i++) slots[i] = (struct slot){.in_w = -1, .out_r = -1};
  long started = 0;
  int active = 0, stopping = 0;
  uint64_t t_start = now_us(), stop_deadline = 0;
  static struct pollfd fds[MAX_SLOTS + 1];
  static int owner[MAX_SLOTS + 1];
  for (;;) {
    for (int i = 0; i < conc && !stopping && started < count; i++) {
      if (slots[i].pid) continue;
      if (start(i, started) < 0) {
        printf("fail 0 fork: %s\n", strerror(errno));
      } else {
        active++;
      }
      started++;
    }
    if (active == 0 && (stopping || started >= count)) break;
    nfds_t nf = 0;
    fds[nf++] = (struct pollfd){.fd = sigfd, .events = POLLIN};
    uint64_t now = now_us(), wake = now + 1000000u;
    for (int i = 0; i < conc; i++) {
      struct slot *s = &slots[i];
      if (!s->pid) continue;
      uint64_t deadline = stopping ? stop_deadline : s->t0 + timeout_us;
      if (!s->killed && now >= deadline) {
        kill(-s->pid, SIGKILL);
        s->killed = 1;
      }
      if (!s->killed && deadline < wake) wake = deadline;
      if (s->out_r < 0) continue;
      owner[nf] = i;
      fds[nf++] = (struct pollfd){.fd = s->out_r, .events = POLLIN};
    }
    int wait_ms = (int)((wake - now + 999) / 1000);
    if (poll(fds, nf, wait_ms) < 0 && errno != EINTR) return perror("driver: poll"), 1;
    for (nfds_t k = 1; k < nf; k++)
      if (fds[k].revents) read_ready(&slots[owner[k]]);
    if (fds[0].revents) {
      struct signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) == sizeof si)
        if (si.ssi_signo == SIGTERM && !stopping) {
          stopping = 1;
          stop_deadline = now_us() + STOP_GRACE_US;
          for (int i = 0; i < conc; i++) close_fd(&slots[i].in_w);
        }
      int status;
      pid_t pid;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        for (int i = 0; i < conc; i++)
          if (slots[i].pid == pid) {
            finish(&slots[i], status);
            active--;
            break;
          }
    }
  }
  printf("done %llu\n", (unsigned long long)(now_us() - t_start));
  return 0;
}
