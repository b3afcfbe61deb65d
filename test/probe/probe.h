/* The probe runs inside a sandbox and reports what it sees as one JSON line on stdout. It is linked
 * statically because the sandbox's root filesystem may hold nothing but the probe itself.
 *
 * Commands follow crun's contract: `int cmd(char **args, struct perr *err)` returns the exit status
 * (>= 0) after printing its JSON, or -1 with err filled when the probe itself could not do its job
 * (bad arguments: status 2; anything else: status 1). What the probe observes, including failed
 * syscalls, is data and goes into the JSON, never into err. */
#ifndef WARREN_PROBE_H
#define WARREN_PROBE_H

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct perr {
  int status; /* exit status the failure maps to: 2 for usage, 1 for the rest */
  int errnum;
  char msg[512];
};

/* Records a failure with errno `errnum` (0 for none) and a message that quotes the object; returns -1. */
int perr_set(struct perr *err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Records a usage error (exit status 2); returns -1. */
int perr_usage(struct perr *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Argument parsing: the whole string must be a number within [min, max]. */
int parse_long(const char *s, long min, long max, long *out, struct perr *err);
int parse_seconds(const char *s, double *out, struct perr *err);

void cleanup_closep(int *fd);
void cleanup_freep(void *p);
void cleanup_closedirp(DIR **d);
void cleanup_fclosep(FILE **f);
#define cleanup_close __attribute__((cleanup(cleanup_closep)))
#define cleanup_free __attribute__((cleanup(cleanup_freep)))
#define cleanup_dir __attribute__((cleanup(cleanup_closedirp)))
#define cleanup_file __attribute__((cleanup(cleanup_fclosep)))

/* Reads a whole file into a NUL-terminated malloc'd buffer (the file may itself hold NULs). */
int read_all(const char *path, char **out, size_t *len, struct perr *err);

/* A JSON writer for one line on stdout. `key` names the member inside an object and is NULL inside
 * an array or for the top-level value. Strings are escaped so the output is always valid JSON: valid
 * UTF-8 passes through, any other byte outside printable ASCII becomes \u00XX. */
void json_begin_object(const char *key);
void json_end_object(void);
void json_begin_array(const char *key);
void json_end_array(void);
void json_string(const char *key, const char *s); /* NULL prints null */
void json_string_n(const char *key, const char *s, size_t n);
void json_int(const char *key, long long v);
void json_double(const char *key, double v);
void json_bool(const char *key, bool v);
void json_null(const char *key);
/* Ends the line and flushes: a reader waiting for the line must not wait for exit. */
void json_end_line(void);

/* One function per command; see README.md for what each prints. */
int cmd_identity(char **args, struct perr *err);
int cmd_syscalls(char **args, struct perr *err);
int cmd_read(char **args, struct perr *err);
int cmd_write(char **args, struct perr *err);
int cmd_append(char **args, struct perr *err);
int cmd_unlink(char **args, struct perr *err);
int cmd_ls(char **args, struct perr *err);
int cmd_fill(char **args, struct perr *err);
int cmd_stdin(char **args, struct perr *err);
int cmd_membomb(char **args, struct perr *err);
int cmd_forkbomb(char **args, struct perr *err);
int cmd_cpuburn(char **args, struct perr *err);
int cmd_exit(char **args, struct perr *err);
int cmd_kill(char **args, struct perr *err);
int cmd_sleep(char **args, struct perr *err);
int cmd_signals(char **args, struct perr *err);
int cmd_stdio(char **args, struct perr *err);
int cmd_swap(char **args, struct perr *err);
int cmd_inodes(char **args, struct perr *err);
int cmd_net(char **args, struct perr *err);
int cmd_openw(char **args, struct perr *err);
int cmd_cgroups(char **args, struct perr *err);
int cmd_procs(char **args, struct perr *err);
int cmd_setcap(char **args, struct perr *err);
int cmd_connect(char **args, struct perr *err);

#endif
