/* The sandbox's root filesystem, built inside the child's own mount namespace, so that nothing
 * of it is visible to the host and a crash of any warren process leaks no mount. */
#ifndef WARREN_ROOTFS_H
#define WARREN_ROOTFS_H

#include <sys/types.h>

#include "error.h"
#include "spec.h"

/* tmpfs scratch on rundir, idmapped lower layers, overlay, binds, /proc, /dev, /sys, masks; then
 * pivot_root into it. userns_fd: the sandbox's user namespace, whose mapping the layers are
 * idmapped with, so that root inside owns the image's files. */
/* The spawner's pid (host namespaces): bind sources are resolved in its mount namespace. */
extern pid_t rootfs_host_pid;

int rootfs_setup(const struct spec *s, int userns_fd, struct werr *err);

#endif
