#include "rootfs.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define PATH_LEN 4096

static int mkdir_p(char *path, mode_t mode) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    int r = mkdir(path, mode);
    *p = '/';
    if (r < 0 && errno != EEXIST) return -1;
  }
  return mkdir(path, mode) < 0 && errno != EEXIST ? -1 : 0;
}

/* An idmapped, read-only clone of a layer: the files the host's root owns appear owned by the
 * sandbox's root (the userns maps 0 to an unprivileged host uid). The mount is made while the
 * child is still the host's root, which open_tree and mount_setattr need. */
static int mount_layer(const char *layer, const char *target, int userns_fd, struct werr *err) {
  int fd cleanup_close = (int)syscall(SYS_open_tree, AT_FDCWD, layer, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (fd < 0) return werr_set(err, "layer", errno, "open_tree '%s'", layer);
  struct mount_attr attr = {
      .attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
      .userns_fd = (uint64_t)userns_fd,
  };
  if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
    return werr_set(err, "idmap", errno, "idmap layer '%s'", layer);
  if (syscall(SYS_move_mount, fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return werr_set(err, "layer", errno, "move_mount '%s' to '%s'", layer, target);
  return 0;
}

static int mount_overlay(const struct spec *s, int userns_fd, struct werr *err) {
  char path[PATH_LEN], opts[PATH_LEN * 2];
  int n = snprintf(opts, sizeof opts, "lowerdir=");
  for (size_t i = 0; i < s->nlayers; i++) {
    snprintf(path, sizeof path, "%s/l%zu", s->rundir, i);
    if (mkdir(path, 0755) < 0) return werr_set(err, "overlay", errno, "mkdir '%s'", path);
    if (mount_layer(s->layers[i], path, userns_fd, err) < 0) return -1;
    n += snprintf(opts + n, sizeof opts - n, "%s%s", i ? ":" : "", path);
  }
  /* a kept sandbox writes to `keep` on disk (its changes outlive it); others to the tmpfs */
  const char *base = s->keep ? s->keep : s->rundir;
  n += snprintf(opts + n, sizeof opts - n, ",upperdir=%s/upper,workdir=%s/work", base, base);
  if ((size_t)n >= sizeof opts) return werr_set(err, "overlay", E2BIG, "overlay options for %zu layers", s->nlayers);
  /* upper and work belong to the sandbox's root: the overlay's root dir takes the upper's owner */
  const char *dirs[] = {"upper", "work"};
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", base, dirs[i]);
    if (mkdir(path, 0755) < 0 && !(s->keep && errno == EEXIST)) return werr_set(err, "overlay", errno, "mkdir '%s'", path);
    if (chown(path, s->uid_base, s->uid_base) < 0) return werr_set(err, "overlay", errno, "chown '%s'", path);
  }
  snprintf(path, sizeof path, "%s/root", s->rundir);
  if (mkdir(path, 0755) < 0) return werr_set(err, "overlay", errno, "mkdir '%s'", path);
  snprintf(path, sizeof path, "%s/root", s->rundir);
  if (mount("overlay", path, "overlay", 0, opts) < 0) return werr_set(err, "overlay", errno, "mount overlay on '%s'", path);
  return 0;
}

static int bind_into(const char *root, const char *src, const char *dst, int readonly, struct werr *err) {
  char target[PATH_LEN];
  struct stat st;
  snprintf(target, sizeof target, "%s%s", root, dst);
  if (stat(src, &st) < 0) return werr_set(err, "bind", errno, "stat '%s'", src);
  if (S_ISDIR(st.st_mode)) {
    if (mkdir_p(target, 0755) < 0) return werr_set(err, "bind", errno, "mkdir '%s'", dst);
  } else {
    char parent[PATH_LEN];
    snprintf(parent, sizeof parent, "%s", target);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) *slash = '\0';
    if (mkdir_p(parent, 0755) < 0) return werr_set(err, "bind", errno, "mkdir parent of '%s'", dst);
    int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) return werr_set(err, "bind", errno, "create '%s'", dst);
    if (fd >= 0) close(fd);
  }
  if (mount(src, target, NULL, MS_BIND | MS_REC, NULL) < 0) return werr_set(err, "bind", errno, "bind '%s' to '%s'", src, dst);
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (readonly ? MS_RDONLY : 0);
  if (mount(NULL, target, NULL, flags, NULL) < 0) return werr_set(err, "bind", errno, "remount '%s'", dst);
  return 0;
}

/* Docker's minimal /dev: a small tmpfs with the host's harmless character devices bound in. */
static int mount_dev(const char *root, struct werr *err) {
  static const char *devices[] = {"null", "zero", "full", "random", "urandom", "tty"};
  static const char *links[][2] = {{"/proc/self/fd", "fd"},   {"/proc/self/fd/0", "stdin"},
                                   {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}};
  char dev[PATH_LEN], path[PATH_LEN];
  snprintf(dev, sizeof dev, "%s/dev", root);
  if (mkdir_p(dev, 0755) < 0) return werr_set(err, "dev", errno, "mkdir '%s'", dev);
  if (mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536,nr_inodes=64") < 0)
    return werr_set(err, "dev", errno, "mount tmpfs on /dev");
  for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
    char src[64];
    snprintf(src, sizeof src, "/dev/%s", devices[i]);
    if (bind_into(root, src, src, 0, err) < 0) return -1;
  }
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dev, links[i][1]);
    if (symlink(links[i][0], path) < 0) return werr_set(err, "dev", errno, "symlink /dev/%s", links[i][1]);
  }
  snprintf(path, sizeof path, "%s/shm", dev);
  if (mkdir(path, 01777) < 0 || mount("shm", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=67108864") < 0)
    return werr_set(err, "dev", errno, "mount /dev/shm");
  if (mount(NULL, dev, NULL, MS_REMOUNT | MS_NOSUID | MS_NOEXEC | MS_RDONLY, "mode=755,size=65536,nr_inodes=64") < 0)
    return werr_set(err, "dev", errno, "remount /dev read-only");
  return 0;
}

/* /proc of the sandbox's pid namespace, with Docker's masked and read-only paths. */
static int mount_proc_sys(const struct spec *s, const char *root, struct werr *err) {
  char path[PATH_LEN];
  snprintf(path, sizeof path, "%s/proc", root);
  if (mkdir_p(path, 0555) < 0) return werr_set(err, "proc", errno, "mkdir '%s'", path);
  if (mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    return werr_set(err, "proc", errno, "mount proc on '%s'", path);
  snprintf(path, sizeof path, "%s/sys", root);
  if (mkdir_p(path, 0555) < 0) return werr_set(err, "sys", errno, "mkdir '%s'", path);
  if (mount("sysfs", path, "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL) < 0)
    return werr_set(err, "sys", errno, "mount sysfs on '%s'", path);
  for (size_t i = 0; i < s->nmasks; i++) {
    struct stat st;
    snprintf(path, sizeof path, "%s%s", root, s->masks[i]);
    if (stat(path, &st) < 0) continue; /* absent on this kernel: nothing to hide */
    int r = S_ISDIR(st.st_mode) ? mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0,nr_inodes=1")
                                : mount("/dev/null", path, NULL, MS_BIND, NULL);
    if (r < 0) return werr_set(err, "mask", errno, "mask '%s'", s->masks[i]);
  }
  for (size_t i = 0; i < s->nreadonly; i++) {
    snprintf(path, sizeof path, "%s%s", root, s->readonly[i]);
    if (access(path, F_OK) < 0) continue;
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0 ||
        mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
      return werr_set(err, "readonly", errno, "make '%s' read-only", s->readonly[i]);
  }
  return 0;
}

/* runc's pivot_root(".", "."): the old root is stacked under the new one and detached at once,
 * so no directory for it is needed and nothing of the host stays reachable. */
static int pivot(const char *root, struct werr *err) {
  if (chdir(root) < 0) return werr_set(err, "pivot_root", errno, "chdir '%s'", root);
  if (syscall(SYS_pivot_root, ".", ".") < 0) return werr_set(err, "pivot_root", errno, "pivot_root '%s'", root);
  if (umount2(".", MNT_DETACH) < 0) return werr_set(err, "pivot_root", errno, "detach the old root");
  if (chdir("/") < 0) return werr_set(err, "pivot_root", errno, "chdir /");
  return 0;
}

int rootfs_setup(const struct spec *s, int userns_fd, struct werr *err) {
  char root[PATH_LEN], opts[128];
  /* private first: nothing mounted below may propagate back to the host */
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) return werr_set(err, "mount", errno, "make / private");
  snprintf(opts, sizeof opts, "mode=755,size=%llu,nr_inodes=%llu", (unsigned long long)s->tmpfs_size,
           (unsigned long long)s->tmpfs_inodes);
  if (mount("tmpfs", s->rundir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
    return werr_set(err, "tmpfs", errno, "mount tmpfs on '%s'", s->rundir);
  if (mount_overlay(s, userns_fd, err) < 0) return -1;
  snprintf(root, sizeof root, "%s/root", s->rundir);
  for (size_t i = 0; i < s->nbinds; i++)
    if (bind_into(root, s->binds[i].src, s->binds[i].dst, s->binds[i].readonly, err) < 0) return -1;
  if (mount_proc_sys(s, root, err) < 0) return -1;
  if (mount_dev(root, err) < 0) return -1;
  return pivot(root, err);
}
