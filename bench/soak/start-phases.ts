/**
 * The mean time of each phase of an instance start, by kind (cold, prewarm...), from serve's
 * /metrics (warren_start_phase_seconds): what recovery after a kill waits for, so the report can
 * tell a slow machine (node booting for seconds in its sandbox) from a slow warren.
 */
export type StartPhases = Record<string, Record<string, { meanMs: number; count: number }>>;

const LINE = /^warren_start_phase_seconds_(sum|count)\{label="([^"]+)",phase="([^"]+)"\} ([0-9.e+-]+)$/;

export function startPhases(metricsText: string): StartPhases {
  const acc: Record<string, Record<string, { sum: number; count: number }>> = {};
  for (const line of metricsText.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const [, kind, label, phase, value] = m as unknown as [string, 'sum' | 'count', string, string, string];
    const slot = ((acc[label] ??= {})[phase] ??= { sum: 0, count: 0 });
    slot[kind] = Number(value);
  }
  const out: StartPhases = {};
  for (const [label, phases] of Object.entries(acc)) {
    out[label] = {};
    for (const [phase, { sum, count }] of Object.entries(phases)) (out[label] as StartPhases[string])[phase] = { meanMs: count ? Math.round((sum / count) * 10000) / 10 : 0, count };
  }
  return out;
}
