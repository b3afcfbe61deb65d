/* warren:[spawner]: the long-lived, single-threaded zygote that clones sandboxes on request.
 * The protocol is drawn in protocol.h. One loop polls the control socket, a signalfd for SIGCHLD
 * and the sync sockets of children still setting up, so sandboxes set up in parallel. */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "child.h"
#include "frame.h"
#include "protocol.h"
#include "rootfs.h"
#include "spec.h"
#include "table.h"
#include "trace.h"
#include "userns.h"
#include "bpf.h"
#include "netpool.h"
#include "prep.h"
#include "nofork.h"
#include "attach.h"
#include "reports.h"

static char *name_area;
static size_t name_len;
/* the spawner's own bookkeeping: in memory no child gets (nofork.h) */
static struct table *sandboxes;
static struct msg *request; /* large: kept off the stack */
/* a spawn request parsed; not on the stack: its lists are ~100 KB, and a frame that large is
 * probed page by page on every call (stack clash protection) */
static struct spec *spec;
static struct pollfd *fds;
static struct sandbox **owners;

/* A spawn request's payload as it came, before parsing changed it in place (msg_parse and
 * spec_parse cut strings up): what its child is handed and parses itself. */
struct raw_request {
  size_t len;
  char bytes[WARREN_FRAME_MAX];
};
static struct raw_request *raw; /* no child gets it (nofork.h) */

/* A spawn that failed before its child got the request. A parked child will not get another
 * request: it is ended, and its exit follows the error when it is reaped. When no child exists,
 * an exit is said at once (pid 0), so that the runner releases what it holds for the sandbox. */
static void fail_spawn(struct sandbox *parked, const char *id, const struct werr *err) {
  send_error(id, err);
  if (parked) {
    kill(parked->pid, SIGKILL);
    parked->reported = 1;
    parked->parked = 0;
    return;
  }
  struct out o;
  out_begin(&o, "exit");
  out_add(&o, "id", "%s", id);
  out_add(&o, "pid", "0");
  out_add(&o, "code", "-1");
  out_add(&o, "signal", "0");
  out_send(&o, WARREN_CTRL_FD);
}


/* Every sandbox's child is made as prep makes one (prep.c) and handed its request over its sync
 * socket: made ahead when the request says `prepped`, made now otherwise. The spawner's own parse
 * of the request (to check it, and to find its user and network namespaces) lives in memory no
 * child gets (nofork.h); a child parses the bytes it is handed. */
static void handle_spawn(struct msg *m, uint64_t t0) {
  struct spec *s = spec;
  struct werr err = {0};
  const char *id = msg_get(m, "id");
  int prepped = msg_get(m, "prepped") != NULL;
  if (spec_parse(m, s, &err) < 0) {
    /* a parked child whose request is bad will not get another: end it (its exit follows) */
    struct sandbox *sb = prepped && id ? table_find_id(sandboxes, id) : NULL;
    if (sb && sb->parked) kill(sb->pid, SIGKILL);
    return send_error(id ? id : "", &err);
  }
  struct sandbox *sb = table_find_id(sandboxes, s->id);
  if (sb && !(prepped && sb->parked)) {
    werr_set(&err, "request", EEXIST, "sandbox '%s' exists", s->id);
    return send_error(s->id, &err);
  }
  if (prepped && !sb) {
    werr_set(&err, "request", ENOENT, "no parked sandbox '%s'", s->id);
    return send_error(s->id, &err);
  }
  /* loaded here, so that a bad filter fails before any clone; a child finds it cached */
  if (!bpf_get(s->seccomp, &err)) return fail_spawn(sb, s->id, &err);
  int userns_fd = userns_get(s->uid_base, s->uid_count, &err);
  if (userns_fd < 0) return fail_spawn(sb, s->id, &err);
  struct netslot *slot = s->netns ? netpool_find(s->netns) : NULL;
  if (s->netns && (!slot || slot->in_use)) {
    werr_set(&err, "netns", slot ? EBUSY : ENOENT, "pooled netns '%s' is %s", s->netns, slot ? "in use" : "unknown");
    return fail_spawn(sb, s->id, &err);
  }
  trace_mark("request");
  if (sb) {
    sb->t0 = t0;
  } else {
    /* the child joins its cgroups itself (prep.c): on cgroup v1 a move can wait ~10 ms for an RCU
     * grace period, and this thread has other sandboxes to start meanwhile */
    int sync_fd;
    pid_t pid = prep_clone(s->id, s->cgroups, s->ncgroups, name_area, name_len, &sync_fd, &err);
    if (pid < 0) return fail_spawn(NULL, s->id, &err);
    trace_mark("clone");
    if (!(sb = table_add(sandboxes, s->id, pid, sync_fd, t0))) {
      kill(pid, SIGKILL); /* reaped unreported: not in the table */
      close(sync_fd);
      werr_set(&err, "request", ENOSPC, "too many sandboxes for '%s'", s->id);
      return fail_spawn(NULL, s->id, &err);
    }
  }
  int held[3] = {-1, -1, -1};
  if (attach_open_held(s->hold, runner_pid, held, &err) < 0) return fail_spawn(sb, s->id, &err);
  if (prep_hand_over(sb->sync_fd, s->id, raw->bytes, raw->len, userns_fd, slot ? slot->fd : -1, &err) < 0) {
    for (int i = 1; i < 3; i++)
      if (held[i] >= 0) close(held[i]);
    return fail_spawn(sb, s->id, &err);
  }
  memcpy(sb->held, held, sizeof held);
  sb->parked = 0;
  if (slot) {
    slot->in_use = 1;
    snprintf(sb->netns, sizeof sb->netns, "%s", slot->id);
  }
}

/* A sandbox made ahead (prep.h), parked until its spawn request comes with `prepped`. Errors and
 * its exit are reported under its id, as for a spawned one. */
static void handle_prep(struct msg *m, uint64_t t0) {
  const char *id = msg_get(m, "id");
  struct werr err = {0};
  const char *cgroups[16];
  size_t n = 0;
  for (size_t i = 0; i < m->nfields && n < 16; i++)
    if (!strcmp(m->fields[i].key, "cgroup")) cgroups[n++] = m->fields[i].value;
  if (!id || strlen(id) >= sizeof sandboxes->items[0].id) {
    werr_set(&err, "request", EINVAL, "prep without a valid id");
    return send_error(id ? id : "", &err);
  }
  if (table_find_id(sandboxes, id)) {
    werr_set(&err, "request", EEXIST, "sandbox '%s' exists", id);
    return send_error(id, &err);
  }
  int sync_fd;
  pid_t pid = prep_clone(id, cgroups, n, name_area, name_len, &sync_fd, &err);
  if (pid < 0) return send_error(id, &err);
  struct sandbox *sb = table_add(sandboxes, id, pid, sync_fd, t0);
  if (!sb) {
    kill(pid, SIGKILL);
    close(sync_fd);
    werr_set(&err, "request", ENOSPC, "too many sandboxes for '%s'", id);
    return send_error(id, &err);
  }
  sb->parked = 1;
}

static void handle_netns_add(struct msg *m) {
  const char *id = msg_get(m, "id"), *veth = msg_get(m, "veth");
  struct werr err = {0};
  if (!id) {
    werr_set(&err, "request", EINVAL, "netns_add without id");
    return send_error("", &err);
  }
  if (veth && (!msg_get(m, "bridge") || !msg_get(m, "addr") || !msg_get(m, "gateway") || strlen(veth) > 15)) {
    werr_set(&err, "request", EINVAL, "netns '%s': veth needs bridge, addr and gateway, and 15 bytes at most", id);
    return send_error(id, &err);
  }
  /* peers=1: a user network's port, not isolated, so the sandboxes on it reach each other */
  const char *peers = msg_get(m, "peers");
  int isolated = !(peers && !strcmp(peers, "1"));
  if (!netpool_add(id, veth, msg_get(m, "bridge"), msg_get(m, "addr"), msg_get(m, "gateway"), isolated, &err)) return send_error(id, &err);
  struct out o;
  out_begin(&o, "netns_ready");
  out_add(&o, "id", "%s", id);
  out_send(&o, WARREN_CTRL_FD);
}

static void handle_netns_del(struct msg *m) {
  const char *id = msg_get(m, "id");
  struct netslot *slot = id ? netpool_find(id) : NULL;
  if (slot && !slot->in_use) netpool_del(slot); /* in use: it goes when its sandbox ends */
}

static void handle_kill(struct msg *m) {
  const char *id = msg_get(m, "id"), *sig = msg_get(m, "signal");
  struct sandbox *sb = id ? table_find_id(sandboxes, id) : NULL;
  struct werr err = {0};
  if (!sb) {
    werr_set(&err, "kill", ESRCH, "no sandbox '%s'", id ? id : "");
    return send_error(id ? id : "", &err);
  }
  if (kill(sb->pid, sig ? atoi(sig) : SIGKILL) < 0) {
    werr_set(&err, "kill", errno, "kill sandbox '%s'", id);
    send_error(id, &err);
  }
}

/* A frame msg_parse refused (too many fields, a field without '='): every refusal is answered,
 * under the id it named if its fields got that far, so that the runner never waits forever. A
 * parked child named by it will get no other request: it is ended, and its exit follows. */
static void refuse_malformed(struct msg *partial) {
  const char *id = msg_get(partial, "id");
  struct werr err = {0};
  werr_set(&err, "request", E2BIG, "refused %s request: unknown type, more than %d fields or a field without '='",
           partial->type ? partial->type : "?", FRAME_FIELDS_MAX);
  struct sandbox *sb = id ? table_find_id(sandboxes, id) : NULL;
  if (sb && sb->parked) kill(sb->pid, SIGKILL);
  send_error(id ? id : "", &err);
}

/* The control socket's bytes; frames are parsed in place. What is left after the complete frames
 * (a partial one, at most 4 + WARREN_FRAME_MAX bytes) moves to the front, so a buffer of twice
 * that always has room to read into. In memory no child gets (nofork.h). */
struct control_buf {
  size_t len;
  char bytes[2 * (4 + WARREN_FRAME_MAX)];
};
static struct control_buf *ctl;

/* Reads what is there; dispatches every complete frame. Returns -1 on a broken frame or `close`,
 * -2 when the runner is gone (EOF, or ECONNRESET: it died with frames of ours unread). */
static int read_control(void) {
  char *buf = ctl->bytes;
  ssize_t n = read(WARREN_CTRL_FD, buf + ctl->len, sizeof ctl->bytes - ctl->len);
  if (n < 0) return errno == EINTR || errno == EAGAIN ? 0 : -2;
  if (n == 0) return -2;
  uint64_t t0 = now_us();
  size_t len = ctl->len + (size_t)n, off = 0;
  while (len - off >= 4) {
    uint32_t size;
    memcpy(&size, buf + off, 4);
    if (size > WARREN_FRAME_MAX) return -1;
    if (len - off - 4 < size) break;
    char *payload = buf + off + 4;
    if (size > 6 && memcmp(payload, "spawn", 6) == 0) {
      memcpy(raw->bytes, payload, size);
      raw->len = size;
    }
    if (msg_parse(payload, size, request) == 0) {
      if (!strcmp(request->type, "spawn")) handle_spawn(request, t0);
      else if (!strcmp(request->type, "prep")) handle_prep(request, t0);
      else if (!strcmp(request->type, "kill")) handle_kill(request);
      else if (!strcmp(request->type, "netns_add")) handle_netns_add(request);
      else if (!strcmp(request->type, "netns_del")) handle_netns_del(request);
      else if (!strcmp(request->type, "close")) return -1;
      else refuse_malformed(request);
    } else {
      refuse_malformed(request);
    }
    off += 4 + size;
  }
  memmove(buf, buf + off, len - off);
  ctl->len = len - off;
  return 0;
}

static int setup_self(char *argv0, int *sigfd) {
  name_area = argv0;
  name_len = strlen(argv0) + 1;
  prctl(PR_SET_NAME, "warren:[spawner]", 0, 0, 0);
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  /* with live restore (protocol.h) it outlives its runner, and waits for the next */
  if (!attach_enabled()) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  struct stat st;
  if (fstat(WARREN_CTRL_FD, &st) < 0 || !S_ISSOCK(st.st_mode)) {
    fprintf(stderr, "warren-spawner: fd %d is not the control socket; the runner starts this program\n", WARREN_CTRL_FD);
    return -1;
  }
  /* nothing the runner's parent left open may reach a sandbox */
  syscall(SYS_close_range, WARREN_CTRL_FD + 1, ~0U, 0);
  fcntl(WARREN_CTRL_FD, F_SETFD, FD_CLOEXEC);
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, NULL);
  *sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  return *sigfd < 0 ? -1 : 0;
}

static int sigfd;

/* Live restore: the runner went away without `close` (killed, crashed). The sandboxes that run
 * stay, and the next runner may attach within the grace window. Those not running yet (parked, or
 * still setting up) are ended: nobody is left to finish their start, and their exits are said at
 * the attach like any other. The free pooled netns go: the next runner does not know them. Fd 3
 * becomes /dev/null, so that nothing said meanwhile reaches whatever reuses the number. */
static int detach(struct werr *err) {
  if (attach_detach(now_us(), err) < 0) return -1;
  ctl->len = 0;
  for (size_t i = 0; i < sandboxes->n; i++) {
    struct sandbox *sb = &sandboxes->items[i];
    if (sb->parked || sb->sync_fd >= 0) kill(sb->pid, SIGKILL);
  }
  netpool_drop_free();
  return 0;
}

static void accept_runner(void) {
  struct werr err = {0};
  pid_t pid;
  int conn = attach_accept(&pid, &err);
  if (conn < 0) fprintf(stderr, "warren-spawner: %s\n", err.msg);
  else say_held(sandboxes, conn, pid);
}


/* The loop, on a stack no child gets (nofork.h); returns when the runner is gone (or said
 * `close`), or, with live restore, when nobody attached within the grace window. */
static void serve(void) {
  for (;;) {
    nfds_t n = 0;
    fds[n++] = (struct pollfd){.fd = attach_detached() ? attach_fd() : WARREN_CTRL_FD, .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = sigfd, .events = POLLIN};
    for (size_t i = 0; i < sandboxes->n; i++) {
      struct sandbox *sb = &sandboxes->items[i];
      if (sb->sync_fd < 0) continue;
      owners[n] = sb;
      fds[n++] = (struct pollfd){.fd = sb->sync_fd, .events = POLLIN};
    }
    if (poll(fds, n, attach_timeout_ms(now_us())) < 0) continue;
    if (attach_timeout_ms(now_us()) == 0) return; /* detached, and the grace window is over */
    /* sync sockets before the control socket: table slots move when a request adds or reaping removes */
    for (nfds_t i = 2; i < n; i++)
      if (fds[i].revents) report_sync(owners[i]);
    if (fds[1].revents) {
      /* one read: SIGCHLD does not queue, and reap() collects every child that ended. Reading on to
       * EAGAIN would write errno, on a page the spawner shares with its children (nofork.h) */
      struct signalfd_siginfo info;
      if (read(sigfd, &info, sizeof info) < 0) { /* EAGAIN: another wakeup read it */ }
      reap(sandboxes);
    }
    if (!fds[0].revents) continue;
    if (attach_detached()) {
      accept_runner();
      continue;
    }
    int r = read_control();
    if (r == -1 || (r == -2 && !attach_enabled())) return;
    struct werr err = {0};
    if (r == -2 && detach(&err) < 0) {
      fprintf(stderr, "warren-spawner: cannot wait for the next runner: %s\n", err.msg);
      return;
    }
  }
}

int main(int argc, char **argv) {
  (void)argc;
  attach_init(getenv("WARREN_ATTACH"), getenv("WARREN_GRACE_MS"));
  if (setup_self(argv[0], &sigfd) < 0) return 2;
  trace_enabled = getenv("WARREN_TRACE") != NULL;
  rootfs_host_pid = getpid(); /* before any clone: every child resolves its binds where we are */
  runner_pid = getppid(); /* whose fds `pipe:N` stdio names (child.c) */
  struct werr err = {0};
  sandboxes = nofork_alloc(sizeof *sandboxes, "the sandbox table", &err);
  request = sandboxes ? nofork_alloc(sizeof *request, "the request", &err) : NULL;
  raw = request ? nofork_alloc(sizeof *raw, "the request", &err) : NULL;
  ctl = raw ? nofork_alloc(sizeof *ctl, "the control socket's buffer", &err) : NULL;
  spec = ctl ? nofork_alloc(sizeof *spec, "the spawn spec", &err) : NULL;
  fds = spec ? nofork_alloc((TABLE_MAX + 2) * sizeof *fds, "the poll set", &err) : NULL;
  owners = fds ? nofork_alloc((TABLE_MAX + 2) * sizeof *owners, "the poll set", &err) : NULL;
  if (!owners || netpool_init(&err) < 0) {
    fprintf(stderr, "warren-spawner: %s\n", err.msg);
    return 2;
  }
  if (trace_enabled) trace_fd = fcntl(2, F_DUPFD_CLOEXEC, 100);
  struct out o;
  out_begin(&o, "hello");
  out_add(&o, "version", "%d", WARREN_PROTOCOL_VERSION);
  out_add(&o, "pid", "%d", getpid());
  if (out_send(&o, WARREN_CTRL_FD) < 0) return 2;
  int rc = nofork_serve(serve, &err);
  if (rc < 0) fprintf(stderr, "warren-spawner: %s\n", err.msg);
  /* the runner is gone (or we cannot serve it, or nobody attached in time): so are its sandboxes.
   * The socket first: a runner that connects from now on is refused (ECONNREFUSED, or a reset of a
   * connection left in the backlog), never left waiting on a spawner that kills what it would adopt */
  attach_end();
  table_kill_all(sandboxes, SIGKILL);
  return rc < 0 ? 2 : 0;
}
