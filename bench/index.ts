/**
 * bench: warren measuring itself against baselines in the same run. A scenario (scenario.ts) names
 * the rows; the runner interleaves them in rounds; the report goes out as a table, JSON or HTML.
 */
export { runBench, scenarioOf, type BenchResult, type BenchRun } from './bench.js';
export { parseBenchArgs, MAX_CONCURRENCY, MAX_COUNT, MAX_DURATION_S, DEFAULT_COUNT, DEFAULT_WARM_S, type BenchOptions } from './options.js';
export { SCENARIOS, type Scenario, type Subject } from './scenario.js';
export { type BenchReport, type ResultRow } from './report.js';
export { formatTable, progressBar } from './table.js';
export { renderHtml } from './report-html.js';
