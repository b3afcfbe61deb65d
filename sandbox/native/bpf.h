/* Seccomp programs compiled by the runner (libseccomp, see sandbox/seccomp/), read once per file:
 * the file names are content hashes, so a path never changes meaning. */
#ifndef WARREN_BPF_H
#define WARREN_BPF_H

#include "child.h"
#include "error.h"

const struct seccomp_bpf *bpf_get(const char *path, struct werr *err);

#endif
