#include "rootfs.h"
#include "trace.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <linux/loop.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
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

/* Attaches the image file fd to a free loop device that detaches itself when its last user goes
 * (LO_FLAGS_AUTOCLEAR), and returns the device's fd; dev gets its path. Another process may take
 * the free device between asking and attaching (EBUSY): ask again. */
static int attach_loop(int img_fd, const char *img, char *dev, size_t dev_len, struct werr *err) {
  int ctl cleanup_close = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (ctl < 0) return werr_set(err, "keep", errno, "open /dev/loop-control");
  for (int tries = 0; tries < 16; tries++) {
    int n = ioctl(ctl, LOOP_CTL_GET_FREE);
    if (n < 0) return werr_set(err, "keep", errno, "find a free loop device for '%s'", img);
    snprintf(dev, dev_len, "/dev/loop%d", n);
    int loop = open(dev, O_RDWR | O_CLOEXEC);
    if (loop < 0) return werr_set(err, "keep", errno, "open '%s'", dev);
    struct loop_config cfg = {.fd = (uint32_t)img_fd, .info = {.lo_flags = LO_FLAGS_AUTOCLEAR}};
    if (ioctl(loop, LOOP_CONFIGURE, &cfg) == 0) return loop;
    int e = errno;
    close(loop);
    if (e != EBUSY) return werr_set(err, "keep", e, "attach '%s' to '%s'", img, dev);
  }
  return werr_set(err, "keep", EBUSY, "attach '%s': every free loop device was taken first", img);
}

/* A kept sandbox's upper and work live in an ext4 image that the host made beside its manifest,
 * sized as the tmpfs is: the image caps its bytes and inodes as the tmpfs caps a plain sandbox's.
 * It is mounted here, in the child's mount namespace only, so when the sandbox ends the mount goes
 * with the namespace and the loop device with the mount: a crash leaks neither. */
static int mount_keep(const struct spec *s, char *base, struct werr *err) {
  char img[PATH_LEN], dev[32];
  snprintf(img, sizeof img, "%s/upper.img", s->keep);
  int fd cleanup_close = open(img, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return werr_set(err, "keep", errno, "open '%s'", img);
  int loop cleanup_close = attach_loop(fd, img, dev, sizeof dev, err);
  if (loop < 0) return -1;
  snprintf(base, PATH_LEN, "%s/keep", s->rundir);
  if (mkdir(base, 0755) < 0) return werr_set(err, "keep", errno, "mkdir '%s'", base);
  /* the mount holds the device from here on; our fd closes at return */
  if (mount(dev, base, "ext4", MS_NOSUID | MS_NODEV, "errors=remount-ro") < 0)
    return werr_set(err, "keep", errno, "mount '%s' (%s) on '%s'", img, dev, base);
  return 0;
}

static int mount_overlay(const struct spec *s, int userns_fd, struct werr *err) {
  char path[PATH_LEN], opts[PATH_LEN * 2], keep[PATH_LEN];
  int n = snprintf(opts, sizeof opts, "lowerdir=");
  for (size_t i = 0; i < s->nlayers; i++) {
    snprintf(path, sizeof path, "%s/l%zu", s->rundir, i);
    if (mkdir(path, 0755) < 0) return werr_set(err, "overlay", errno, "mkdir '%s'", path);
    if (mount_layer(s->layers[i], path, userns_fd, err) < 0) return -1;
    n += snprintf(opts + n, sizeof opts - n, "%s%s", i ? ":" : "", path);
  }
  /* a kept sandbox writes to its image on disk (its changes outlive it); others to the tmpfs */
  if (s->keep && mount_keep(s, keep, err) < 0) return -1;
  const char *base = s->keep ? keep : s->rundir;
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
  if (mount("overlay", path, "overlay", 0, opts) < 0) return werr_set(err, "overlay", errno, "mount overlay on '%s'", path);
  return 0;
}

/* A mount to attach after pivot_root: a detached copy (open_tree) of a bind source or of a file
 * made on the scratch tmpfs, taken while the host's tree is still visible. Attaching after the
 * pivot resolves the target inside the sandbox's root: a symlink in an image can never lead a
 * mount, or a mkdir, out to the host. */
struct pending {
  int fd;
  const char *dst;
  const char *src;
};

/* An idmapped bind (userns_fd >= 0) is for storage warren owns, a volume: its files are stored
 * owned by 0..65535 as a layer's are, and appear owned by the same uids inside, whichever host
 * range this sandbox's user namespace maps, so sandboxes of different ranges share it. It is one
 * mount, not a tree: an idmap is set on a mount that was never attached, which open_tree gives. */
static int take_tree(const char *src, const char *dst, int readonly, int userns_fd, struct pending *p, struct werr *err) {
  p->src = src;
  p->dst = dst;
  unsigned recursive = userns_fd >= 0 ? 0 : AT_RECURSIVE;
  p->fd = (int)syscall(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | recursive);
  if (p->fd < 0) return werr_set(err, "bind", errno, "open_tree '%s'", src);
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (readonly ? MOUNT_ATTR_RDONLY : 0)};
  if (userns_fd >= 0) {
    attr.attr_set |= MOUNT_ATTR_IDMAP;
    attr.userns_fd = (uint64_t)userns_fd;
  }
  if (syscall(SYS_mount_setattr, p->fd, "", AT_EMPTY_PATH | recursive, &attr, sizeof attr) < 0)
    return werr_set(err, userns_fd >= 0 ? "idmap" : "bind", errno, "set attributes of bind '%s'", src);
  return 0;
}

pid_t rootfs_host_pid;

/* The bind sources, taken in the host's mount namespace, not in our copy of it: a child made
 * ahead (prep.c) holds the host's mounts as they were when it was cloned, and a mount made since,
 * such as the size-capped tmpfs the host mounts on a sandbox's io dir just before the spawn, is
 * not in that copy (the host's / is private on most machines: nothing propagates). Only the
 * open_tree runs there; we come back before anything else, and fail if we cannot. */
static int take_binds(const struct spec *s, int userns_fd, struct pending *pending, size_t *n, struct werr *err) {
  if (s->nbinds == 0) return 0;
  char host[64];
  snprintf(host, sizeof host, "/proc/%d/ns/mnt", (int)rootfs_host_pid);
  int own cleanup_close = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  if (own < 0) return werr_set(err, "bind", errno, "open '/proc/self/ns/mnt'");
  int hostns cleanup_close = open(host, O_RDONLY | O_CLOEXEC);
  if (hostns < 0) return werr_set(err, "bind", errno, "open '%s'", host);
  if (setns(hostns, CLONE_NEWNS) < 0) return werr_set(err, "bind", errno, "join the host's mount namespace '%s'", host);
  int rc = 0;
  for (size_t i = 0; i < s->nbinds && rc == 0; i++)
    rc = take_tree(s->binds[i].src, s->binds[i].dst, s->binds[i].readonly, s->binds[i].idmap ? userns_fd : -1, &pending[(*n)++], err);
  /* also after a failed take: this failure outranks it, we must never go on in the host's */
  if (setns(own, CLONE_NEWNS) < 0) return werr_set(err, "bind", errno, "return to the sandbox's mount namespace");
  return rc;
}

/* /etc/hosts and friends, as Docker provides them: files on the scratch tmpfs, owned by the
 * sandbox's root, bound over the image's. Not written into the overlay, so `commit` leaves them
 * out and no copy-up of /etc is paid on every spawn. */
static int take_file(const struct spec *s, size_t i, char *path, struct pending *p, struct werr *err) {
  snprintf(path, PATH_LEN, "%s/file%zu", s->rundir, i);
  int fd cleanup_close = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  size_t len = strlen(s->files[i].content);
  if (fd < 0 || write(fd, s->files[i].content, len) != (ssize_t)len || fchown(fd, s->uid_base, s->uid_base) < 0)
    return werr_set(err, "files", errno, "write '%s' for '%s'", path, s->files[i].path);
  return take_tree(path, s->files[i].path, 0, -1, p, err);
}

/* A mount point for `dst` inside the (new) root: a dir, or an empty file for a file source. */
static int make_target(const char *dst, int is_dir, struct werr *err) {
  char path[PATH_LEN];
  snprintf(path, sizeof path, "%s", dst);
  if (is_dir) {
    if (mkdir_p(path, 0755) < 0) return werr_set(err, "bind", errno, "mkdir '%s'", dst);
    return 0;
  }
  struct stat st;
  if (stat(dst, &st) == 0 && !S_ISDIR(st.st_mode)) return 0; /* the image has it: no copy-up */
  char *slash = strrchr(path, '/');
  if (slash && slash != path) {
    *slash = '\0';
    if (mkdir_p(path, 0755) < 0) return werr_set(err, "bind", errno, "mkdir parent of '%s'", dst);
  }
  int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return werr_set(err, "bind", errno, "create '%s'", dst);
  close(fd);
  return 0;
}

static int attach_all(struct pending *p, size_t n, struct werr *err) {
  for (size_t i = 0; i < n; i++) {
    struct stat st;
    if (fstat(p[i].fd, &st) < 0) return werr_set(err, "bind", errno, "stat bind '%s'", p[i].src);
    if (make_target(p[i].dst, S_ISDIR(st.st_mode), err) < 0) return -1;
    if (syscall(SYS_move_mount, p[i].fd, "", AT_FDCWD, p[i].dst, MOVE_MOUNT_F_EMPTY_PATH) < 0)
      return werr_set(err, "bind", errno, "attach '%s' at '%s'", p[i].src, p[i].dst);
    close(p[i].fd);
  }
  return 0;
}

/* Docker's minimal /dev: a small tmpfs with the harmless character devices. They are made with
 * mknod (we are still the host's root here), not bound from the host, which pivot_root has
 * already left behind. /dev/shm takes the scratch tmpfs's inode cap: without one the kernel's
 * default (half the host's RAM pages) leaves only the memory limit behind empty files, and a
 * function that makes them gets an OOM kill of its whole instance instead of an ENOSPC. */
static int mount_dev(const struct spec *s, struct werr *err) {
  static const struct {
    const char *name;
    unsigned major, minor;
  } devices[] = {{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
  static const char *links[][2] = {{"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"},
                                   {"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"}};
  char path[PATH_LEN];
  if (mkdir_p(strcpy(path, "/dev"), 0755) < 0) return werr_set(err, "dev", errno, "mkdir /dev");
  if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536,nr_inodes=64") < 0)
    return werr_set(err, "dev", errno, "mount tmpfs on /dev");
  for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
    snprintf(path, sizeof path, "/dev/%s", devices[i].name);
    if (mknod(path, S_IFCHR | 0666, makedev(devices[i].major, devices[i].minor)) < 0 || chmod(path, 0666) < 0)
      return werr_set(err, "dev", errno, "mknod '%s'", path);
  }
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    if (symlink(links[i][0], links[i][1]) < 0) return werr_set(err, "dev", errno, "symlink '%s'", links[i][1]);
  char shm[96];
  snprintf(shm, sizeof shm, "mode=1777,size=67108864,nr_inodes=%llu", (unsigned long long)s->tmpfs_inodes);
  if (mkdir("/dev/shm", 01777) < 0 || mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, shm) < 0)
    return werr_set(err, "dev", errno, "mount /dev/shm (%s)", shm);
  if (mount(NULL, "/dev", NULL, MS_REMOUNT | MS_NOSUID | MS_NOEXEC | MS_RDONLY, "mode=755,size=65536,nr_inodes=64") < 0)
    return werr_set(err, "dev", errno, "remount /dev read-only");
  return 0;
}

/* /proc of the sandbox's pid namespace, with Docker's masked and read-only paths, and /sys. */
static int mount_proc_sys(const struct spec *s, struct werr *err) {
  char path[PATH_LEN];
  if (mkdir_p(strcpy(path, "/proc"), 0555) < 0) return werr_set(err, "proc", errno, "mkdir /proc");
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    return werr_set(err, "proc", errno, "mount proc on /proc");
  if (mkdir_p(strcpy(path, "/sys"), 0555) < 0) return werr_set(err, "sys", errno, "mkdir /sys");
  if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL) < 0)
    return werr_set(err, "sys", errno, "mount sysfs on /sys");
  /* Masked dirs share one empty read-only tmpfs: the first gets it, the others a bind of it (a
   * bind keeps its read-only flag, and the superblock is read-only too). A tmpfs each cost a
   * superblock to make and to tear down, with its shrinker and per-memcg lists. */
  const char *empty = NULL;
  for (size_t i = 0; i < s->nmasks; i++) {
    struct stat st;
    if (stat(s->masks[i], &st) < 0) continue; /* absent on this kernel: nothing to hide */
    int r;
    if (!S_ISDIR(st.st_mode)) r = mount("/dev/null", s->masks[i], NULL, MS_BIND, NULL);
    else if (empty) r = mount(empty, s->masks[i], NULL, MS_BIND, NULL);
    else if ((r = mount("tmpfs", s->masks[i], "tmpfs", MS_RDONLY, "size=0,nr_inodes=1")) == 0) empty = s->masks[i];
    if (r < 0) return werr_set(err, "mask", errno, "mask '%s'", s->masks[i]);
  }
  for (size_t i = 0; i < s->nreadonly; i++) {
    const char *p = s->readonly[i];
    if (access(p, F_OK) < 0) continue;
    if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0 ||
        mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
      return werr_set(err, "readonly", errno, "make '%s' read-only", p);
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
  struct pending pending[32 + 8];
  char paths[8][PATH_LEN];
  size_t n = 0;
  /* private first: nothing mounted below may propagate back to the host */
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) return werr_set(err, "mount", errno, "make / private");
  snprintf(opts, sizeof opts, "mode=755,size=%llu,nr_inodes=%llu", (unsigned long long)s->tmpfs_size,
           (unsigned long long)s->tmpfs_inodes);
  if (mount("tmpfs", s->rundir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
    return werr_set(err, "tmpfs", errno, "mount tmpfs on '%s'", s->rundir);
  trace_mark("tmpfs");
  if (mount_overlay(s, userns_fd, err) < 0) return -1;
  trace_mark("overlay");
  if (take_binds(s, userns_fd, pending, &n, err) < 0) return -1;
  for (size_t i = 0; i < s->nfiles; i++)
    if (take_file(s, i, paths[i], &pending[n++], err) < 0) return -1;
  snprintf(root, sizeof root, "%s/root", s->rundir);
  /* from here on every path is the sandbox's: the image cannot point a mount at the host */
  if (pivot(root, err) < 0) return -1;
  trace_mark("pivot");
  /* /dev first: the masks over /proc files are binds of its /dev/null */
  if (mount_dev(s, err) < 0) return -1;
  trace_mark("dev");
  if (mount_proc_sys(s, err) < 0) return -1;
  trace_mark("proc+sys+masks");
  return attach_all(pending, n, err);
}
