/**
 * `npm run soak`: the soak driver's entry (README, "Soak and chaos"). Runs soak.ts, prints the
 * report, writes it as JSON with --json, exits 1 when a target is missed, 2 when it could not run.
 * Needs root (warren serve does).
 */
import fs from 'node:fs';
import { isWarrenError } from '../../lib/errors.js';
import { parseSoakArgs } from './options.js';
import { formatReport, judge } from './report.js';
import { runSoak } from './soak.js';

async function main(): Promise<number> {
  const opts = parseSoakArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) {
    process.stderr.write('soak: needs root (it runs warren serve)\n');
    return 2;
  }
  const stop = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(`soak: ${sig}: ending early, then stopping serve and cleaning up\n`);
      stop.abort();
    });
  }
  const report = await runSoak({ ...opts, signal: stop.signal });
  report.targets = judge(report);
  process.stdout.write(formatReport(report) + '\n');
  if (opts.json) fs.writeFileSync(opts.json, JSON.stringify(report, null, 1));
  return report.targets.every((t) => t.met) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`soak: ${isWarrenError(err) ? err.message : err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(2);
  },
);
