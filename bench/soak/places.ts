/**
 * The soak's own places, all named so that test/owned.ts counts them as this slot's (WRNTEST_SLOT,
 * as the e2e tests take it): never /var/lib/warren, /run/warren, warren0 or the cgroup `warren`.
 *
 *   state dir    /var/tmp/wrntest-soak-sN/state   a small ext4 image mounted there (statefs.ts),
 *                                                 so that the soak can fill it
 *   run dir      /run/wrntest-soak-sN
 *   cgroups      wrntest-soak-sN
 *   bridge/table wrntsNb99                        (b99: past every test file's index)
 *   subnet       10.189.(N*16).0/20               (the tests take 10.200 and up, the bench 10.90)
 *   ports        127.0.0.1:21280+10N (data), +1 (control)
 *
 * A run without WRNTEST_SLOT is slot 0 (test/owned.ts: a `wrntest` name without `-sN`).
 */
import path from 'node:path';
import { dirsEnv, type Dirs } from '../../lib/dirs.js';
import { WarrenError } from '../../lib/errors.js';

export const PORT_BASE = 21280;

export interface Places {
  slot: number;
  /** Holds the image file and the state dir's mount point. */
  root: string;
  image: string;
  dirs: Dirs;
  /** The sandbox cycles' own run dir and cgroup parent (cycles.ts), beside the server's. */
  cycles: Dirs;
  data: number;
  control: number;
}

export function places(env: NodeJS.ProcessEnv = process.env): Places {
  const slot = Number(env.WRNTEST_SLOT ?? 0);
  if (!Number.isInteger(slot) || slot < 0 || slot > 15) throw new WarrenError('WARREN_ARG_INVALID', `WRNTEST_SLOT=${env.WRNTEST_SLOT}: expected 0 to 15`);
  const tag = slot === 0 ? '' : `-s${slot}`;
  const root = `/var/tmp/wrntest-soak${tag}`;
  const net = { bridge: `wrnts${slot}b99`, table: `wrnts${slot}b99`, subnet: `10.189.${slot * 16}.0/20`, resolvConf: '/dev/null' };
  const dirs: Dirs = { state: path.join(root, 'state'), run: `/run/wrntest-soak${tag}`, cgroupParent: `wrntest-soak${tag}`, net };
  const cycles: Dirs = { ...dirs, run: `/run/wrntest-soak-cycles${tag}`, cgroupParent: `wrntest-soak-cycles${tag}` };
  return { slot, root, image: path.join(root, 'state.img'), dirs, cycles, data: PORT_BASE + slot * 10, control: PORT_BASE + slot * 10 + 1 };
}

/** The environment of a `warren` process that uses these places. */
export function warrenEnv(dirs: Dirs): NodeJS.ProcessEnv {
  return { ...process.env, ...dirsEnv(dirs) };
}
