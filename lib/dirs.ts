/**
 * Where warren keeps things on the host. Everything is overridable so that
 * tests use their own prefix and dirs and never touch a real installation.
 *
 *   state  /var/lib/warren   layers, images, seccomp cache   WARREN_STATE_DIR
 *   run    /run/warren       per-sandbox run dirs, slots     WARREN_RUN_DIR
 *   cgroup warren            parent cgroup under each root   WARREN_CGROUP_PARENT
 */
export interface Dirs {
  readonly state: string;
  readonly run: string;
  readonly cgroupParent: string;
}

export function defaultDirs(env: NodeJS.ProcessEnv = process.env): Dirs {
  return {
    state: env.WARREN_STATE_DIR || '/var/lib/warren',
    run: env.WARREN_RUN_DIR || '/run/warren',
    cgroupParent: env.WARREN_CGROUP_PARENT || 'warren',
  };
}
