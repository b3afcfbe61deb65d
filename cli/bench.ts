/**
 * `warren bench SCENARIO`: warren's speed (spawn, cold and warm starts) against baselines in the same run.
 * Prints a table (or with --json one JSON object), optionally writes an HTML report. Bad input and
 * warren's own errors exit 125 as `warren run` does; a run with failed cycles exits 1 after
 * printing everything; Ctrl-C stops it, removes what it created and exits 130.
 */
import fs from 'node:fs';
import { defaultDirs } from '../lib/dirs.js';
import { WarrenError } from '../lib/errors.js';
import { hostFactory } from './wiring.js';
import { formatTable, parseBenchArgs, progressBar, renderHtml, runBench, scenarioOf, SCENARIOS, DEFAULT_COUNT, DEFAULT_WARM_S, MAX_CONCURRENCY, MAX_COUNT, MAX_DURATION_S } from '../bench/index.js';

export const BENCH_USAGE = `usage: warren bench spawn|cold|warm|density [options]

spawn: creates sandboxes, waits until they are ready, destroys them; measures the latency to ready
and the sustained rate, against baselines run in the same rounds: unshare and crun (when installed)
with the same namespaces at the bare level, plain node processes at the runtime level.
cold: the first request of a function that has no instance, through warren serve's router: with
the generic pool warm (prewarm) and empty (cold), against a fresh plain node process (and a fresh
workerd when installed: npm install --no-save workerd).
warm: one deployed function under load (autocannon) through the router, against plain node,
warren's runtime without router or sandbox, and workerd when installed, at each connection count.
density: the memory (PSS and memory cgroup) of idle warm function instances, all alive at once,
against idle plain node processes and workerd when installed.

options:
  --count N           measured cycles per row (default ${DEFAULT_COUNT}, cold 50; at most ${MAX_COUNT});
                      density: instances per row (default 10, at most 64)
  --concurrency C     spawn: cycles in flight at once (default 1, at most ${MAX_CONCURRENCY})
  --duration S        spawn, cold: run rounds for about S seconds in all instead (at most
                      ${MAX_DURATION_S}; --count then caps the cycles per row); warm: seconds of load
                      measured per row (default ${DEFAULT_WARM_S})
  --level bare        spawn: ready = the command runs (default); runtime: warren's node runtime
                      answers on its socket
  --net none          spawn: loopback only (default); bridge: each sandbox has its veth on the bridge
  --pool warm|empty   cold: only the row with the generic pool warm, or empty (default: both)
  --egress none|public
                      cold: the functions' egress (default none; public: each start adds its
                      nftables elements, as a function that calls fetch() needs)
  --connections LIST  warm: connection counts, e.g. 1,2,50 (the default)
  --json              print one JSON object instead of the table
  --report FILE.html  also write a self-contained HTML page with the plots
`;

const EXIT_INTERRUPTED = 130;

export async function bench(argv: readonly string[]): Promise<number> {
  if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(BENCH_USAGE);
    return 0;
  }
  const options = parseBenchArgs(argv, [...SCENARIOS.keys()]);
  // refuse what is not there yet before asking for root: the answer does not depend on it
  scenarioOf(options).check(options);
  if (process.getuid?.() !== 0) throw new WarrenError('WARREN_HOST_NOT_ROOT', 'warren bench needs root, as warren run does (run it with sudo)');

  const controller = new AbortController();
  const stop = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) return;
    process.stderr.write(`\nwarren: ${sig}: ending the running cycles and removing what the bench created\n`);
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    const result = await runBench(options, { dirs: defaultDirs(), hosts: hostFactory, progress: progressBar(process.stderr), signal: controller.signal });
    if (result.aborted) {
      process.stderr.write('warren: bench interrupted, nothing left behind\n');
      return EXIT_INTERRUPTED;
    }
    const { report, samples } = result;
    if (options.report) {
      try {
        fs.writeFileSync(options.report, renderHtml(report, samples));
      } catch (err) {
        throw new WarrenError('WARREN_BENCH_REPORT', `cannot write the report '${options.report}': ${(err as Error).message}`, { cause: err });
      }
    }
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatTable(report));
    if (options.report && !options.json) process.stdout.write(`report: ${options.report}\n`);
    return report.results.some((r) => r.failures > 0) ? 1 : 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
