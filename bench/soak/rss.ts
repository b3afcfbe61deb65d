/**
 * warren serve's RSS over time, and its growth after warm-up. Growth is judged on the last
 * incarnation only (a restart starts from nothing): the median of the first WINDOW_S seconds of
 * samples after warm-up against the median of the last WINDOW_S seconds. A pure function over
 * plain samples.
 */

export interface RssSample {
  atS: number;
  pid: number;
  rssBytes: number;
}

export interface RssGrowth {
  /** Whether the last incarnation ran long enough past warm-up for the target to apply. */
  judged: boolean;
  startBytes?: number;
  endBytes?: number;
  growthPct?: number;
  why?: string;
}

export const WARM_UP_S = 120;
const WINDOW_S = 60;
/** Shorter measured spans say too little to hold to the 10% target. */
export const MIN_SPAN_S = 300;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

export function rssGrowth(samples: readonly RssSample[]): RssGrowth {
  const last = samples.at(-1);
  if (!last) return { judged: false, why: 'no samples' };
  const life = samples.filter((s) => s.pid === last.pid);
  const born = (life[0] as RssSample).atS;
  const warm = life.filter((s) => s.atS >= born + WARM_UP_S);
  const span = warm.length ? last.atS - (warm[0] as RssSample).atS : 0;
  if (warm.length < 2) return { judged: false, why: `the last incarnation ran ${Math.round(last.atS - born)} s: no samples past its ${WARM_UP_S} s warm-up` };
  const from = (warm[0] as RssSample).atS;
  const start = median(warm.filter((s) => s.atS <= from + WINDOW_S).map((s) => s.rssBytes));
  const end = median(warm.filter((s) => s.atS >= last.atS - WINDOW_S).map((s) => s.rssBytes));
  const growthPct = Math.round(((end - start) / start) * 1000) / 10;
  const judged = span >= MIN_SPAN_S;
  return { judged, startBytes: start, endBytes: end, growthPct, ...(judged ? {} : { why: `${Math.round(span)} s measured past warm-up, under ${MIN_SPAN_S} s` }) };
}
