import t from 'tap';
import { Metrics } from './metrics.js';

t.test('invocations, their latency and warm starts, as a scrape reads them', async (t) => {
  const m = new Metrics(() => ({ ready: 2 }), () => 3);
  m.finished('app', 'ok', 0.5);
  m.finished('app', 'ok', 30);
  m.finished('app', 'timeout', 60_000);
  m.refused('app', 'queue-full');
  m.refused('other', 'start-failed');
  m.warm();
  m.warm();
  m.started('app', { label: 'cold', ms: 100, phases: [['spawn', 10]] });
  const { text } = await m.text();
  t.match(text, /^warren_invocations_total\{function="app",status="ok"\} 2$/m);
  t.match(text, /^warren_invocations_total\{function="app",status="timeout"\} 1$/m);
  t.match(text, /^warren_invocations_total\{function="app",status="queue_full"\} 1$/m);
  t.match(text, /^warren_invocations_total\{function="other",status="start_failed"\} 1$/m);
  t.match(text, /^warren_starts_total\{label="warm"\} 2$/m);
  t.match(text, /^warren_starts_total\{label="cold"\} 1$/m);
  t.match(text, /^warren_instances\{state="ready"\} 2$/m);
  // buckets count every observation at or below their bound
  t.match(text, /^warren_invocation_seconds_bucket\{le="0\.001",function="app"\} 1$/m);
  t.match(text, /^warren_invocation_seconds_bucket\{le="0\.025",function="app"\} 1$/m);
  t.match(text, /^warren_invocation_seconds_bucket\{le="0\.05",function="app"\} 2$/m);
  t.match(text, /^warren_invocation_seconds_bucket\{le="30",function="app"\} 2$/m);
  t.match(text, /^warren_invocation_seconds_bucket\{le="\+Inf",function="app"\} 3$/m);
  t.match(text, /^warren_invocation_seconds_count\{function="app"\} 3$/m);
  t.match(text, /^warren_invocation_seconds_sum\{function="app"\} 60\.0305$/m);
  t.notMatch(text, /warren_invocation_seconds_count\{function="other"\}/, 'no latency for a function never invoked');
  t.match(text, /^# TYPE warren_invocation_seconds histogram$/m);

  m.warm();
  t.match((await m.text()).text, /^warren_starts_total\{label="warm"\} 3$/m, 'warm starts add up across scrapes');
});
