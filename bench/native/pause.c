/* The bench's command: the same static binary runs in every row (warren, unshare, crun), so the
 * rows differ only in how they isolate it. It writes one byte to stdout as soon as it runs, which
 * is how the baseline driver knows "command running"; then it waits:
 *   pause              until a signal ends it (warren's destroy() kills the sandbox)
 *   pause --until-eof  until stdin reaches EOF (the driver ends a baseline by closing its stdin,
 *                      the cheapest teardown a baseline can get, and one that also happens when
 *                      the driver dies, so a crash leaves no baseline process behind)
 * Static, because a sandbox's root may hold no libc. As PID 1 of its namespace it would ignore
 * SIGTERM and SIGINT without handlers, so it installs them: a stray signal ends it cleanly. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static void on_signal(int sig) {
  (void)sig;
  _exit(0);
}

int main(int argc, char **argv) {
  int until_eof = argc > 1 && strcmp(argv[1], "--until-eof") == 0;
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN); /* nobody reads our stdout: carry on */
  if (write(STDOUT_FILENO, "R", 1) < 0) { /* nobody listening is fine */ }
  if (!until_eof)
    for (;;) pause();
  char buf[64];
  for (;;) {
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n > 0 || (n < 0 && errno == EINTR)) continue;
    return 0;
  }
}
