/* bench driver: runs a baseline's create-and-destroy cycles from a small C process, so that the
 * baselines pay for their own start and not for a fork of Node (6-9 ms per spawn; DESIGN.md). Node
 * starts one driver per batch, outside the measured time.
 *
 *   driver [--answer SOCKET HTTP_PATH] COUNT CONCURRENCY TIMEOUT_MS -- COMMAND [ARGS...]
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
 * With --answer (the runtime level), "running" means answering instead: the command listens on the
 * unix socket SOCKET ("{slot}", "{n}" expanded; its dir fixed), whose name appears only once it
 * accepts (warren's runtime listens on a temporary name and renames it). The driver watches the
 * dir with inotify, sends `GET HTTP_PATH` when the name appears, and the complete answer (a 200)
 * is the cycle's ready time; then the process group is killed (as warren destroys a sandbox) and
 * the socket unlinked.
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
#include <libgen.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"

#define MAX_SLOTS 256
#define STOP_GRACE_US 5000000u

struct slot {
  pid_t pid; /* 0: free */
  int in_w, out_r;
  uint64_t t0, ready_us;
  int ready, killed;
  char *sock;        /* --answer: this cycle's socket path */
  const char *why;   /* --answer: why the answer failed */
};

static struct slot slots[MAX_SLOTS];
static char **cmd;
static int ncmd;
static const char *answer_tpl, *answer_path; /* --answer */

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
  *s = (struct slot){.pid = pid, .in_w = in[1], .out_r = out[0], .t0 = s->t0, .sock = answer_tpl ? expand(answer_tpl, i, n) : NULL};
  return 0;
}

/* One request on the slot's socket, blocking (a few hundred microseconds once it accepts), with
 * timeouts so that a runtime that accepts and never answers cannot hang the driver. */
static const char *ask(struct slot *s) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(s->sock) >= sizeof sa.sun_path) return "socket path too long";
  strcpy(sa.sun_path, s->sock);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "socket failed";
  struct timeval tv = {.tv_sec = 5};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const char *why = NULL;
  char req[512], buf[4096];
  int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n", answer_path);
  size_t got = 0;
  /* a server's socket name appears at bind(), before its listen(): node's baseline renames its
   * socket into place after listen, workerd does not, so a refusal in that gap is retried (for at
   * most ~100 ms, 20 us apart: the gap is a few syscalls long) */
  int rc, tries = 0;
  while ((rc = connect(fd, (struct sockaddr *)&sa, sizeof sa)) < 0 && errno == ECONNREFUSED && tries++ < 5000) usleep(20);
  if (rc < 0) why = "connect failed";
  else if (write(fd, req, (size_t)len) != len) why = "request not sent";
  else {
    /* the answer ends at its last byte (answer_complete), or at EOF without framing */
    ssize_t n;
    while (got < sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0) {
      got += (size_t)n;
      buf[got] = 0;
      if (answer_complete(buf, got)) break;
    }
    buf[got] = 0;
    if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0) why = got ? "answer was not 200" : "no answer";
  }
  close(fd);
  return why;
}

/* inotify says names appeared in the sockets' dir: ask the slots whose socket it is */
static void on_names(int ino, int conc) {
  char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  ssize_t n;
  while ((n = read(ino, buf, sizeof buf)) > 0) {
    for (char *p = buf; p < buf + n;) {
      struct inotify_event *ev = (struct inotify_event *)p;
      p += sizeof *ev + ev->len;
      if (!ev->len) continue;
      for (int i = 0; i < conc; i++) {
        struct slot *s = &slots[i];
        if (!s->pid || s->ready || s->killed || !s->sock) continue;
        const char *base = strrchr(s->sock, '/');
        if (strcmp(base ? base + 1 : s->sock, ev->name) != 0) continue;
        s->why = ask(s);
        if (!s->why) {
          s->ready = 1;
          s->ready_us = now_us() - s->t0;
        }
        kill(-s->pid, SIGKILL); /* answered or not, the cycle is over: destroy it */
      }
    }
  }
}

static void read_ready(struct slot *s) {
  char buf[64];
  ssize_t n = read(s->out_r, buf, sizeof buf);
  if (n > 0 && answer_tpl) return; /* --answer: its output means nothing */
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
  if (s->sock) {
    unlink(s->sock); /* a killed runtime leaves its socket's name behind */
    free(s->sock);
    s->sock = NULL;
  }
  if (answer_tpl && s->why)
    printf("fail %llu %s\n", (unsigned long long)cycle, s->why);
  else if (answer_tpl && s->ready && !s->killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
    printf("ok %llu %llu\n", (unsigned long long)s->ready_us, (unsigned long long)cycle); /* our kill */
  else if (s->killed)
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
  fprintf(stderr, "usage: driver [--answer SOCKET HTTP_PATH] COUNT CONCURRENCY TIMEOUT_MS -- COMMAND [ARGS...]\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc > 3 && strcmp(argv[1], "--answer") == 0) {
    answer_tpl = argv[2];
    answer_path = argv[3];
    argv += 3;
    argc -= 3;
  }
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
  int ino = -1;
  if (answer_tpl) {
    char *dir = strdup(answer_tpl);
    dir = dirname(dir);
    if (strchr(dir, '{')) return fprintf(stderr, "driver: the socket's dir must be fixed: '%s'\n", dir), 2;
    ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ino < 0 || inotify_add_watch(ino, dir, IN_MOVED_TO | IN_CREATE) < 0) return perror("driver: inotify"), 1;
  }

  for (int i = 0; i < MAX_SLOTS; i++) slots[i] = (struct slot){.in_w = -1, .out_r = -1};
  long started = 0;
  int active = 0, stopping = 0;
  uint64_t t_start = now_us(), stop_deadline = 0;
  static struct pollfd fds[MAX_SLOTS + 2];
  static int owner[MAX_SLOTS + 2];
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
    /* the inotify fd sits at index 1 when there is one; -1 is ignored by poll */
    fds[nf++] = (struct pollfd){.fd = ino, .events = POLLIN};
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
    if (fds[1].revents) on_names(ino, conc);
    for (nfds_t k = 2; k < nf; k++)
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
