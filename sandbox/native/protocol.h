/*
 * warren-spawner protocol, version 1.
 *
 * The runner (Node) starts one warren-spawner and talks to it over a unix stream socket on fd 3.
 * Each message is a frame: a 4-byte little-endian payload length, then the payload: NUL-terminated
 * strings, the first the message type, the rest `key=value` (a key may repeat: arg, env, layer...).
 * The spawner never parses JSON and never runs user code.
 *
 *   runner (TS)                  warren:[spawner]                       child -> warren:[init] (PID 1)
 *     | prep id=7 cgroup=... ---->  | clone(NEWPID|NEWNS|NEWUTS|NEWIPC)      |
 *     |                             |--------------------------------------->| 1. joins its cgroups, waits
 *     | spawn id=7 prepped arg=. -> |  (a spawn without prepped clones now)  |
 *     |                             | sync: request, userns (+ netns) fds -->| 2. netns, cgroupns, mounts,
 *     |                             |                                        |    overlay, pivot_root, lo,
 *     |                             |                                        |    userns, rlimits, caps, seccomp
 *     |                             |                                        | 3. fork + exec the command
 *     |                             |<-------- sync: READY or ERROR ---------|
 *     | <----- spawned id=7 pid= -- |                                        | 4. reap, forward signals,
 *     | <----- error id=7 stage= -- |                                        |    exit with the command's
 *     | kill id=7 signal=15 ------> | kill(init)                             |    status (128+sig if killed)
 *     | <----- exit id=7 code= ---- | SIGCHLD, waitpid                       |
 *
 * Runner -> spawner
 *   spawn   id, arg+ (argv), env*, cwd, hostname, rundir (an existing dir; the child's scratch
 *           tmpfs is mounted on it, inside the child's own mount namespace), tmpfs_size, tmpfs_inodes,
 *           layer+ (overlay lower dirs, top first), uid_base, uid_count, cgroup* (dirs to join),
 *           seccomp (BPF file), rlimit* (name:soft:hard), stdin/stdout/stderr (null, the default,
 *           or pipe:N: an end of a pipe the runner made and relays, its fd N; the child opens it
 *           through /proc/<runner>/fd/N and refuses what is not a pipe), bind* (src:dst:ro|rw, and :idmap
 *           for a volume: the files' owners as stored, mapped through the sandbox's userns), mask* (path hidden: /dev/null or empty ro tmpfs),
 *           readonly* (path remounted read-only), file* + content (made on the scratch tmpfs and bound
 *           over the image's after pivot_root: /etc/hosts...), netns (a pooled network namespace to join, see netns_add;
 *           none: a fresh one with lo only), keep (a dir on disk holding upper.img, an ext4
 *           image the child loop-mounts for upper/ and work/: the sandbox's changes outlive it,
 *           capped by the image's size and inodes), prepped (present: the id was made ahead by prep, and
 *           its parked child takes this request; absent: a child is cloned for it now, the same way)
 *   prep    id, cgroup*                       make a sandbox ahead: clone it (no netns yet), let it
 *                                             join its cgroups (on v1 that can wait ~10 ms for an RCU
 *                                             grace period) and park until its spawn request;
 *                                             errors and its exit come under its id
 *   kill    id, signal
 *   netns_add  id, veth, bridge, addr, gateway (the last four or none), peers: a network namespace
 *           made ahead, lo up; with veth, its host end on the bridge (isolated, unless peers=1: a
 *           user network's port) and eth0 = addr with a default route via gateway. Cleaned and reused after each sandbox (netpool.h).
 *   netns_del  id                             drop a pooled netns (once its sandbox ended)
 *   close                                     a clean stop: kill every sandbox and exit (EOF
 *                                             without it: see live restore below)
 *   spawn's hold_stdout, hold_stderr = N      live restore: the runner's read end of that pipe, its
 *                                             fd N, which the spawner holds (opened through /proc)
 * Spawner -> runner
 *   hello   version, pid                      once, at start
 *   spawned id, pid (host pid of init), us (request to command exec'd, microseconds)
 *   error   id, stage, errno, msg             the spawn failed at stage (or the command could not
 *                                             be executed: stage=exec); an exit follows (pid 0 when no
 *                                             child ran), except after a refused request (stage=request):
 *                                             every frame refused (unknown type, over FRAME_FIELDS_MAX
 *                                             fields, a field without '=') is answered so, under its id
 *   netns_ready id                            a netns_add is done (or: error id stage msg)
 *   exit    id, pid, code, signal, netns      init ended: code = its exit status, or signal if killed;
 *                                             netns = reused | discarded for a pooled one
 *   netns_gone id                             a netns reported reused could not be reset: dropped
 *   hello   ..., held=N                       to a runner that attached (live restore), then N of:
 *   held    id, pid, netns, stdout, stderr    a sandbox the spawner holds; stdout/stderr: its fds of
 *                                             the held ends, for /proc/<spawner>/fd/K; an exit right
 *                                             after it when it ended while no runner was attached
 *
 * Live restore (WARREN_ATTACH=<socket path>, WARREN_GRACE_MS in the environment): the spawner has
 * no parent-death signal. Control EOF without `close` (the runner was killed): it ends the
 * sandboxes not yet running (parked, setting up), drops the free pooled netns, and listens on the
 * socket (mode 0600, root peers only). A runner that connects becomes its runner (hello, held...).
 * Nobody within the grace window: it kills every sandbox, removes the socket and exits.
 *
 * Spawner <-> child sync (SOCK_SEQPACKET, one message per packet)
 *   parent -> child  the spawn frame's payload, with SCM_RIGHTS fds: the user namespace, then the
 *                    pooled netns if any (none: the child unshares a fresh one). The child parses
 *                    the payload itself: the spawner's parse lives in memory no child gets (nofork.h)
 *   child -> parent  "R"                                   the command was exec'd
 *   child -> parent  "E" stage NUL errno NUL message       a step failed; the child exits 125 (127 exec)
 */
#ifndef WARREN_PROTOCOL_H
#define WARREN_PROTOCOL_H

#define WARREN_PROTOCOL_VERSION 1
#define WARREN_CTRL_FD 3
#define WARREN_FRAME_MAX (1u << 20)

#define SYNC_READY 'R'
#define SYNC_ERROR 'E'

#endif
