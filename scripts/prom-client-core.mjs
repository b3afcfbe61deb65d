// What warren uses of prom-client (runner/metrics.ts), for the CLI bundle (scripts/bundle-cli.mjs
// puts this file in place of 'prom-client'). prom-client's index.js also loads its push gateway
// client (node's https), its default process metrics (v8, perf_hooks, @opentelemetry/api) and its
// cluster aggregator, none of which warren uses: 12 ms more of `warren serve`'s start here.
// An import of anything else from 'prom-client' fails the bundle's build (no such export), so add
// it here then.
import Counter from 'prom-client/lib/counter.js';
import Gauge from 'prom-client/lib/gauge.js';
import Histogram from 'prom-client/lib/histogram.js';
import Registry from 'prom-client/lib/registry.js';

export { Counter, Gauge, Histogram, Registry };
