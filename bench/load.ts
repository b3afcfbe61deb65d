/**
 * The warm scenario's load generator, run as a child process of the bench (so its CPU is its own
 * and the bench reads it): autocannon (npm) at a fixed number of connections for a fixed time,
 * the same for every row. Prints one JSON line: every 2xx answer's latency in ms (the report
 * computes percentiles and plots from samples, as for the other scenarios), the other outcomes
 * counted, the load's wall time and the CPU this process used for the load.
 *
 *   node load.js '{"url":"http://127.0.0.1:8080/f/","connections":50,"seconds":2}'
 *   node load.js '{"url":"http://localhost/","socketPath":"/run/x.sock","connections":1,"seconds":2}'
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

export interface LoadConfig {
  url: string;
  socketPath?: string;
  /** The Host header, when not the URL's (a host-routed function). */
  host?: string;
  connections: number;
  seconds: number;
}

export interface LoadResult {
  latenciesMs: number[];
  /** Answers that were not 2xx, by status. */
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
  wallMs: number;
  cpuUs: number;
}

interface Instance {
  on(event: 'response', listener: (client: unknown, status: number, bytes: number, ms: number) => void): void;
}
type Autocannon = (opts: Record<string, unknown>, done: (err: Error | null, result: { errors: number; timeouts: number }) => void) => Instance;

function main(): void {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as LoadConfig;
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  const out: LoadResult = { latenciesMs: [], statuses: {}, errors: 0, timeouts: 0, wallMs: 0, cpuUs: 0 };
  // its own start (loading autocannon) is not the load's: charge what the load itself costs
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const inst = autocannon(
    { url: cfg.url, socketPath: cfg.socketPath, ...(cfg.host && { headers: { host: cfg.host } }), connections: cfg.connections, duration: cfg.seconds, pipelining: 1, timeout: 30 },
    (err, result) => {
      out.wallMs = performance.now() - t0;
      if (err) {
        process.stderr.write(`autocannon: ${err.message}\n`);
        process.exit(1);
      }
      out.errors = result.errors;
      out.timeouts = result.timeouts;
      const cpu = process.cpuUsage(cpu0);
      out.cpuUs = cpu.user + cpu.system;
      process.stdout.write(`${JSON.stringify(out)}\n`);
    },
  );
  inst.on('response', (_client, status, _bytes, ms) => {
    if (status >= 200 && status < 300) out.latenciesMs.push(ms);
    else out.statuses[status] = (out.statuses[status] ?? 0) + 1;
  });
}

main();
