import t from 'tap';
import { LIVE_RESTORE_GRACE_MS, parseServeArgs } from './serve-args.js';

t.test('--live-restore and its grace', async (t) => {
  t.equal(parseServeArgs([]).liveRestoreGraceMs, undefined, 'off by default: sandboxes die with the server');
  t.equal(parseServeArgs(['--live-restore']).liveRestoreGraceMs, LIVE_RESTORE_GRACE_MS, 'on: the default grace');
  t.equal(parseServeArgs(['--live-restore', '--live-restore-grace', '90s']).liveRestoreGraceMs, 90_000);
  t.equal(parseServeArgs(['--live-restore-grace=2m', '--live-restore']).liveRestoreGraceMs, 120_000, 'in either order');
  t.throws(() => parseServeArgs(['--live-restore-grace', '30s']), { code: 'WARREN_ARG_INVALID', message: /needs --live-restore/ });
  t.throws(() => parseServeArgs(['--live-restore', '--live-restore-grace', '10ms']), { code: 'WARREN_ARG_INVALID', message: /from 1s to 1h/ });
  t.throws(() => parseServeArgs(['--live-restore', '--live-restore-grace', 'soon']), { code: 'WARREN_ARG_INVALID' });
});
